"""Publishing: interactive HTML maps, static images and data files."""
