"""Engine: executor, shards, ledger, manifest, audit and record schemas; knows no reader or step."""
