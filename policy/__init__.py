"""The stack's security and reliability rules (`rules`), and the Pulumi policy pack that
enforces them in `pulumi preview/up --policy-pack policy` (`pack`, run by `__main__.py`)."""
