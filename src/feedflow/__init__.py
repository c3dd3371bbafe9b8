"""feedflow: news articles and feeds into a clean, tagged, Hive-partitioned Parquet dataset."""

__version__ = "0.1.0"
