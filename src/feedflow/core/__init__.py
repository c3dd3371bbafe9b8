"""Pure-Python core: readers, cleaning, dedup keys, identity, tagging. Never imports apache_beam."""
