"""On-the-fly image variants for Django sites on S3 + CloudFront.

``imagevariants.edge`` is the code that runs inside Lambda@Edge (standard library, Pillow and boto3 only);
everything else in this package is the Django side, which imports it.
"""

__version__ = "0.1.0"
