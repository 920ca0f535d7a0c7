"""Scan results: the one schema (:mod:`.schema`), its files (:mod:`.writers`) and the terminal table (:mod:`.table`)."""
