"""A line plot written as a PNG with the standard library alone (zlib and
struct), for machines without matplotlib: log2 x axis (or linear, from 0),
linear y axis from 0, one polyline with square markers per series, tick labels
in a 3x5 pixel font, and a legend of colour swatches with the series names.
Several plots can share one image (draw_line_plot into a box of a Canvas)."""
import math
import struct
import zlib

# 3x5 glyphs, rows top to bottom, 3 bits per row (MSB = left column).
_FONT = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 1, 1),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), ".": (0, 0, 0, 0, 2), "-": (0, 0, 7, 0, 0),
    " ": (0, 0, 0, 0, 0), "/": (1, 1, 2, 4, 4), "(": (2, 4, 4, 4, 2), ")": (2, 1, 1, 1, 2),
    "a": (0, 6, 3, 5, 7), "b": (4, 4, 7, 5, 7), "c": (0, 7, 4, 4, 7), "d": (1, 1, 7, 5, 7),
    "e": (7, 5, 7, 4, 7), "f": (3, 4, 6, 4, 4), "g": (7, 5, 7, 1, 7), "h": (4, 4, 7, 5, 5),
    "i": (2, 0, 2, 2, 2), "k": (4, 5, 6, 5, 5), "l": (2, 2, 2, 2, 3), "m": (0, 7, 7, 5, 5),
    "n": (0, 6, 5, 5, 5), "o": (0, 7, 5, 5, 7), "p": (7, 5, 7, 4, 4), "r": (0, 7, 4, 4, 4),
    "s": (7, 4, 7, 1, 7), "t": (4, 7, 4, 4, 3), "u": (0, 5, 5, 5, 7), "w": (0, 5, 7, 7, 5),
    "y": (5, 5, 7, 1, 7), "F": (7, 4, 7, 4, 4), "H": (5, 5, 7, 5, 5),
    # Added for the serving sweep's labels (benchmarks/serve); characters that no
    # earlier plot drew, so earlier images are unchanged.
    "j": (1, 0, 1, 5, 7), "q": (0, 7, 5, 7, 1), "v": (0, 5, 5, 5, 2), "x": (0, 5, 2, 5, 5),
    "z": (0, 7, 2, 4, 7), ":": (0, 2, 0, 2, 0), "<": (1, 2, 4, 2, 1), "=": (0, 7, 0, 7, 0),
    ",": (0, 0, 0, 2, 4), "_": (0, 0, 0, 0, 7), "%": (5, 1, 2, 4, 5),
}


class Canvas:
    def __init__(self, width, height):
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def set(self, x, y, color):
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i:i + 3] = bytes(color)

    def rect(self, x0, y0, x1, y1, color):
        for y in range(min(y0, y1), max(y0, y1) + 1):
            for x in range(min(x0, x1), max(x0, x1) + 1):
                self.set(x, y, color)

    def line(self, x0, y0, x1, y1, color, thickness=2):
        # Bresenham, thickened with a small square brush.
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.rect(x0, y0, x0 + thickness - 1, y0 + thickness - 1, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x, y, string, color=(0, 0, 0), scale=2):
        for ch in string:
            glyph = _FONT.get(ch, _FONT.get(ch.lower(), (7, 7, 7, 7, 7)))
            for row, bits in enumerate(glyph):
                for col in range(3):
                    if bits & (4 >> col):
                        self.rect(x + col * scale, y + row * scale,
                                  x + col * scale + scale - 1, y + row * scale + scale - 1, color)
            x += 4 * scale

    def png(self):
        raw = b"".join(b"\x00" + bytes(self.pixels[y * self.width * 3:(y + 1) * self.width * 3])
                       for y in range(self.height))

        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _nice_step(span, ticks=5):
    """The 1, 2 or 5 times a power of ten that cuts `span` into about `ticks`."""
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10


def line_plot(path, title, xs, series, width=800, height=500, **options):
    """series: list of (name, [y or None per x], (r, g, b)). xs > 0, log2 axis
    unless options say otherwise (see draw_line_plot)."""
    canvas = Canvas(width, height)
    draw_line_plot(canvas, (0, 0, width, height), title, xs, series, **options)
    with open(path, "wb") as f:
        f.write(canvas.png())


def draw_line_plot(canvas, box, title, xs, series, x_label="batch", log_x=True, y_limit=None):
    """Draws one plot into box = (x, y, width, height) of canvas, so that several
    plots can share one image. With log_x=False the x axis is linear from 0 with
    evenly spaced ticks (for request rates); y_limit caps the y axis, and points
    above it are drawn on the top edge, so that one exploding value (latency past
    saturation) does not flatten the rest."""
    x0, y0, width, height = box
    left, right, top, bottom = x0 + 70, x0 + width - 20, y0 + 40, y0 + height - 50
    values = [y for _, ys, _ in series for y in ys if y is not None]
    y_max = max(values) * 1.1 if values else 1.0
    if y_limit is not None and y_max > y_limit:
        y_max = y_limit
    if y_max <= 0:
        y_max = 1.0
    step = _nice_step(y_max)
    if log_x:
        lx = [math.log2(x) for x in xs]
        x_lo, x_hi = min(lx), max(lx) if max(lx) > min(lx) else min(lx) + 1

        def px(x):
            return int(left + (math.log2(x) - x_lo) / (x_hi - x_lo) * (right - left))
    else:
        x_span = max(xs) * 1.05 if xs and max(xs) > 0 else 1.0

        def px(x):
            return int(left + x / x_span * (right - left))

    def py(y):
        return int(bottom - min(y, y_max) / y_max * (bottom - top))

    canvas.text(left, y0 + 12, title)
    tick = 0.0
    while tick <= y_max:
        y = py(tick)
        canvas.line(left, y, right, y, (225, 225, 225), 1)
        canvas.text(x0 + 8, y - 5, f"{tick:g}")
        tick += step
    if log_x:
        x_ticks = [(x, str(x)) for x in xs]
    else:
        x_step = _nice_step(x_span)
        x_ticks = [(i * x_step, f"{i * x_step:g}") for i in range(int(x_span / x_step) + 1)]
    for x, label in x_ticks:
        canvas.line(px(x), bottom, px(x), bottom + 5, (0, 0, 0), 1)
        canvas.text(px(x) - 6, bottom + 10, label)
    canvas.text((left + right) // 2 - 20, y0 + height - 18, x_label)
    canvas.line(left, top, left, bottom, (0, 0, 0), 1)
    canvas.line(left, bottom, right, bottom, (0, 0, 0), 1)
    for index, (name, ys, color) in enumerate(series):
        points = [(px(x), py(y)) for x, y in zip(xs, ys) if y is not None]
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            canvas.line(xa, ya, xb, yb, color)
        for x, y in points:
            canvas.rect(x - 3, y - 3, x + 3, y + 3, color)
        legend_y = top + 6 + 16 * index
        canvas.rect(left + 12, legend_y, left + 24, legend_y + 8, color)
        canvas.text(left + 30, legend_y - 1, name)
