"""Article identity: canonical URLs, stable article ids and the ``source`` of an article.

``article_id`` is the hex BLAKE2b-128 of, in order of preference:

1. the canonical URL: scheme and host lower-cased, ``www.`` and the fragment dropped, default ports
   dropped, tracking parameters removed (``utm_*``, ``fbclid``, ``gclid``, …), an empty path → ``/``;
   except a bare site root (``https://example.com/``), which names a site, not an article: feeds
   whose every item links to the home page (podcasts often do) would otherwise collapse into one;
2. else the feed entry's guid (prefixed with the feed URL, since guids are only unique per feed);
3. else source + title + body content hash.

The same input yields the same id in every run and on every worker. ``source`` is the declared source
(JSON ``source`` key), else the registered domain of the article URL, else of the feed URL, else the
input file's name. Registered domains come from tldextract's bundled Public Suffix List snapshot:
no network, ever.
"""

from __future__ import annotations

import hashlib
import posixpath
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import tldextract

#: Query parameters that only track the click, never select content.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
        "ocid",
        "cmpid",
        "ncid",
        "smid",
        "sr_share",
        "share",
        "ref_src",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def canonical_url(url: str | None) -> str | None:
    """The canonical form of an http(s) URL (see module docstring); None for anything else."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        host = parts.hostname.lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if not host:  # "http://example.com@." : a host of dots only names nothing
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets, or the result is no URL
        host = f"[{host}]"
    if host.startswith("www."):
        host = host[4:]
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def is_site_root(url: str) -> bool:
    """True for a canonical URL with no path and no query: a home page."""
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


def stable_id(*parts: str) -> str:
    """Hex BLAKE2b-128 of the parts, separated by a byte that cannot occur in text."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def article_id(
    url: str | None, guid: str | None, feed_url: str | None, source: str, title: str | None, body_hash: str
) -> str:
    """The article id (see module docstring). ``url`` must already be canonical."""
    if url and not is_site_root(url):
        return stable_id("url", url)
    if guid:
        return stable_id("guid", feed_url or "", guid.strip())
    return stable_id("content", source, title or "", body_hash)


class SourceNamer:
    """Maps URLs to registered domains with the bundled suffix list; build once per worker."""

    def __init__(self) -> None:
        # suffix_list_urls=() → never fetch the live list; the snapshot inside the package is used.
        self._extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def domain(self, url: str | None) -> str | None:
        """Registered domain ('bbc.co.uk') of an http(s) URL, or its host when it has no suffix."""
        if not url:
            return None
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
            return None
        result = self._extract(parts.hostname)
        if result.top_domain_under_public_suffix:
            return str(result.top_domain_under_public_suffix).lower()
        return parts.hostname.lower()

    def source(self, declared: str | None, url: str | None, feed_url: str | None, input_path: str) -> str:
        if declared and declared.strip():
            return declared.strip()
        for candidate in (url, feed_url):
            found = self.domain(candidate)
            if found:
                return found
        return posixpath.basename(input_path.rstrip("/").replace("\\", "/")) or input_path
