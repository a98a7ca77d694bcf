"""Drop-in replacements for other libraries' APIs on semseg (docs/pixellib_migration.md)."""
