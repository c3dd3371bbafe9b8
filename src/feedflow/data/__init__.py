"""Data shipped with feedflow (IPTC Media Topics vocabulary, CC BY 4.0 — see IPTC-NOTICE.txt)."""
