"""The desktop helper program (parley_helper.py), served for download as it is, in
parley-helper.pyz with its libraries (meetings/remote/helper_build.py), or built into
one program per system with PyInstaller (parley-helper.spec)."""
