"""A fake EC2 endpoint for tests (see ../README.md)."""
