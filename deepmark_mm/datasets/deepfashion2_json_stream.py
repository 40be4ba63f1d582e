# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Read a COCO annotation file one ``images`` / ``annotations`` element at a time.

``json.load`` holds the whole file text and every parsed element at once; DeepFashion2's train
file has 882 keypoint numbers per garment, so that is several GB of Python objects. This reader
keeps only a bounded window of the text and hands every annotation to a ``transform`` (e.g. one
that keeps only the fields and keypoint slots the dataset uses) right after it is parsed. The
standard library has no incremental JSON parser; elements are parsed with
``json.JSONDecoder.raw_decode``, so every value is exactly what ``json.load`` gives.

Anything this reader does not handle (malformed JSON, a top level that is not an object, a BOM,
invalid UTF-8) makes :func:`load_coco_json_streaming` return ``None``, so that the caller can fall
back to ``json.load`` and its error messages.
"""
import json
import re
from typing import Callable, Dict, Optional, TextIO

_DECODER = json.JSONDecoder()
_NON_SPACE = re.compile(r'[^ \t\n\r]')
#: Top-level keys whose arrays are read element by element.
STREAMED_KEYS = ('images', 'annotations')


class _NotStreamable(Exception):
    """The text is not what the streaming reader handles (the caller falls back)."""


class _TextWindow:
    """A sliding window over a text file: the unparsed rest of the current chunk(s)."""

    def __init__(self, file: TextIO, chunk_chars: int) -> None:
        self.file = file
        self.chunk_chars = chunk_chars
        self.text = ''
        self.pos = 0
        self.eof = False

    def _read_more(self, at_least: int) -> None:
        chunk = self.file.read(max(self.chunk_chars, at_least))
        if not chunk:
            self.eof = True
            return
        self.text = self.text[self.pos:] + chunk
        self.pos = 0

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end); ``pos`` moves onto it."""
        while True:
            match = _NON_SPACE.search(self.text, self.pos)
            if match is not None:
                self.pos = match.start()
                return self.text[self.pos]
            self.pos = len(self.text)
            if self.eof:
                return ''
            self._read_more(0)

    def expect(self, allowed: str) -> str:
        """Consume the next non-whitespace character, which must be one of ``allowed``."""
        char = self.peek()
        if not char or char not in allowed:
            raise _NotStreamable
        self.pos += 1
        return char

    def value(self) -> object:
        """Parse the next JSON value (growing the window until it holds the whole value)."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
                # a value ending at the window's end may continue (a number) unless at EOF
                if end < len(self.text) or self.eof:
                    self.pos = end
                    return value
            except json.JSONDecodeError:
                if self.eof:
                    raise _NotStreamable from None
            self._read_more(len(self.text) - self.pos)  # doubles the window: linear overall


def load_coco_json_streaming(path: str,
                             transform: Callable[[object], object],
                             chunk_chars: int = 1 << 24) -> Optional[Dict]:
    """Load a COCO json, passing every ``annotations`` element through ``transform``.

    Args:
        path (str): The json file.
        transform (Callable): Applied to each element of the top-level ``annotations`` array as
            soon as it is parsed; its result is stored instead.
        chunk_chars (int): Characters read at a time.

    Returns:
        dict | None: The top-level object, as ``json.load`` returns it except for the transformed
        annotations; ``None`` when the file is not a JSON object this reader can stream (the
        caller then uses ``json.load``).

    Raises:
        OSError: The file cannot be opened.
    """
    with open(path, 'r', encoding='utf-8') as file:
        window = _TextWindow(file, chunk_chars)
        try:
            return _read_top_level(window, transform)
        except (_NotStreamable, UnicodeDecodeError):
            return None


def _read_top_level(window: _TextWindow, transform: Callable[[object], object]) -> Dict:
    window.expect('{')
    top: Dict = {}
    if window.peek() == '}':
        window.pos += 1
    else:
        while True:
            key = window.value()
            if not isinstance(key, str):
                raise _NotStreamable
            window.expect(':')
            if key in STREAMED_KEYS and window.peek() == '[':
                window.pos += 1
                convert = transform if key == 'annotations' else None
                elements = []
                if window.peek() == ']':
                    window.pos += 1
                else:
                    while True:
                        element = window.value()
                        elements.append(convert(element) if convert else element)
                        if window.expect(',]') == ']':
                            break
                top[key] = elements
            else:
                top[key] = window.value()
            if window.expect(',}') == '}':
                break
    if window.peek() != '':
        raise _NotStreamable  # extra data after the object
    return top
