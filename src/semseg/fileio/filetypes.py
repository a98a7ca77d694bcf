"""File suffixes semseg reads as images and as videos (no imports: the CLI uses them at start).

Images: every raster format Pillow decodes without extra libraries. An animated GIF (or
multi-frame TIFF/WebP) read as an image gives its first frame.
"""

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif",
    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".pcx", ".sgi", ".jp2", ".j2k", ".qoi",
)
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv")
