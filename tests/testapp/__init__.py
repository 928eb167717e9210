"""Models of the tests' own: a VariantImageField, and a plain ImageField to compare it with."""
