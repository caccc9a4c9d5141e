"""The aiortc media worker's recording jobs (F3). Built by the recording issue."""
