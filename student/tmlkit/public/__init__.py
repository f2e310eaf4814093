"""Public checks, one module per homework (generated; see autograder.publish)."""
