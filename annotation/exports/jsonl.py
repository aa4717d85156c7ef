"""``dataset.jsonl``: one JSON object a line, the form ``rewardlab.ml.data.load_pairs_jsonl`` reads."""

from pathlib import Path

from annotation.exports.base import Chunk, Layout, Writer, json_line


class JsonlWriter(Writer):
    filename = "dataset.jsonl"

    def __init__(self, folder: Path, layout: Layout):
        super().__init__(folder, layout)
        self._file = (folder / self.filename).open("wb")

    def write(self, chunk: Chunk) -> None:
        self._file.write(b"".join(map(json_line, chunk.rows)))

    def close(self) -> list[str]:
        self._file.close()
        return [self.filename]
