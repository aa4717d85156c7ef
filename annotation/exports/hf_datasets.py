"""``hf/``: a Hugging Face ``DatasetDict`` folder, one dataset per split; ``datasets.load_from_disk`` reads it.

Written here rather than with ``DatasetDict.save_to_disk`` for two reasons: the rows stream straight into
one Arrow IPC stream per split (``save_to_disk`` needs the whole table first), and every byte is fixed by
the content (``save_to_disk`` stores a random fingerprint, which would change the version's sha256).
The files are the ones ``save_to_disk`` makes: ``dataset_dict.json``, and per split
``data-00000-of-00001.arrow``, ``dataset_info.json`` and ``state.json``. Video paths in the rows are relative
to the version folder (one level above ``hf/``), as in every other format.
"""

import json
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from annotation import storage
from annotation.exports.base import Chunk, Layout, Writer

FOLDER = "hf"
DATA_FILE = "data-00000-of-00001.arrow"


class HfDatasetsWriter(Writer):
    def __init__(self, folder: Path, layout: Layout):
        super().__init__(folder, layout)
        import datasets  # a heavy import, needed only when this format is asked for

        self._features = datasets.Features.from_arrow_schema(layout.arrow_schema)
        self._info = datasets.DatasetInfo(
            features=self._features,
            description="A VidPref dataset version; see manifest.json one folder up.",
        )
        root = folder / FOLDER
        self._streams = {}
        for split in layout.splits:
            (root / split).mkdir(parents=True)
            # The features in the schema metadata are what datasets itself writes into its Arrow files.
            self._streams[split] = pa.ipc.new_stream(root / split / DATA_FILE, self._features.arrow_schema)

    def write(self, chunk: Chunk) -> None:
        batch = chunk.batch
        for split, stream in self._streams.items():
            part = batch.filter(pc.equal(batch.column("split"), split))
            if part.num_rows:
                stream.write_batch(part.replace_schema_metadata(self._features.arrow_schema.metadata))

    def close(self) -> list[str]:
        files = []
        root = self.folder / FOLDER
        for split, stream in self._streams.items():
            stream.close()
            data = root / split / DATA_FILE
            state = {
                "_data_files": [{"filename": DATA_FILE}],
                # datasets caches transforms by fingerprint; the content hash is a stable, honest one.
                "_fingerprint": storage.sha256_file(data)[:16],
                "_format_columns": None,
                "_format_kwargs": {},
                "_format_type": None,
                "_output_all_columns": False,
                "_split": split,
            }
            _write_json(root / split / "state.json", state, sort_keys=True)
            info = asdict(self._info)
            _write_json(root / split / "dataset_info.json", {k: info[k] for k in sorted(info)})
            files += [f"{FOLDER}/{split}/{name}" for name in (DATA_FILE, "dataset_info.json", "state.json")]
        _write_json(root / "dataset_dict.json", {"splits": list(self._streams)})
        self._streams = {}
        return [f"{FOLDER}/dataset_dict.json", *files]

    def __exit__(self, *exc) -> None:
        # After a failure only the open streams need closing; the folder is thrown away.
        for stream in self._streams.values():
            stream.close()
        self._streams = {}


def _write_json(path, data, *, sort_keys: bool = False) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=sort_keys) + "\n", encoding="utf-8")
