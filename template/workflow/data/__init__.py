"""Preparing a CSV dataset before training: clean it, split it, describe it, propose its schema.

    python -m workflow.data prepare data/penguins.csv --out-dir data   # clean, split, instances
    python -m workflow.data describe data/penguins.csv
    python -m workflow.data schema data/penguins.csv --label species

The split is by a hash of each row (or of a key column), never by position or a random draw:
re-running it gives the same files, and appending rows never moves an old row to another split,
so an evaluation set stays unseen by training as the data grows. `--shards N` writes the
training rows as N files (workflow/shards.py), for clusters whose workers each read their own.
`prepare` also writes a few evaluation rows as instances.json, the input of `make predict`, in
the project's schema, and the trainer's statistics of the split as stats.json
(workflow/split_stats.py), so that training need not scan the data first.

The settings a team changes (the missing-value tokens, the split's key and fractions, the schema
proposal's thresholds) are in config/data.yaml; this package is the template's. The files are
read as the trainer reads them, with trainer/csv_reader.py.

One module per concern:
- `settings`: config/data.yaml, read and checked, and the split's fractions;
- `reading`: a raw CSV file as the settings read it, its columns, the project's schema;
- `swap`: new files written beside their targets, switched in together at the end;
- `clean`, `split`, `describe`, `proposal` (the schema proposal), `picking` (the instances);
- `prepare`: all of them in one checked pass; `cli`: the commands and their flags.

No TensorFlow: it starts at once and runs anywhere.
"""
