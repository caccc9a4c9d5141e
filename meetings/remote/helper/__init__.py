"""The desktop helper program (parley_helper.py), served for download as one file."""
