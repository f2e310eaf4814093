"""Course kit for Trustworthy Machine Learning: autograder, release and Gradescope tooling."""
__version__ = "0.1.0"
