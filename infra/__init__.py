"""The Pulumi components of the students API; `__main__.py` composes them."""
