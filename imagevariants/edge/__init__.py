"""The code that runs inside Lambda@Edge.

Standard library, Pillow and botocore (which the Lambda runtime ships with boto3) only: this package never imports
Django nor the rest of ``imagevariants``, so that it can be zipped into the function bundle on its own. The Django
side imports it, so the template tags, the local edge and Lambda share one implementation of the key scheme, the
presets document and the pipeline.
"""
