"""Groups viewers' suggestions by what they ask for. Pure: no Django, no I/O, no model download.

How (docs/jobs.md, "Suggestions → proposals", has the figures):

1. `normalize`: the chat command (`!suggest`), emoji, accents, casing, punctuation, letters
   repeated for emphasis ("pleeease") and chat filler ("pls add", "we need") go; what is left
   is what the viewer asks for.
2. TF-IDF over character n-grams within words (`char_wb`, 2–4): a typo changes a few n-grams
   only, so "dragon pet" and "dragn pett" stay close; rows are L2-normalised, so a dot product
   is a cosine similarity.
3. Blocks: each suggestion's nearest neighbours (sparse, brute force in bounded chunks) joined
   where closer than the threshold; the connected components are blocks that can share no
   group. Memory stays O(n · k) instead of the O(n²) of a full distance matrix.
   A block past `BLOCK_CAP` (chat chains ideas through shared words) is cut again along its
   stronger edges only.
4. Average-linkage agglomerative clustering (scikit-learn) with a cosine distance threshold
   inside each block: exact on the block's distance matrix up to `BLOCK_CAP` members; a block
   that no cut brings under the cap is clustered on 128 SVD components with its neighbour
   graph as connectivity.

Deterministic: the input is put in a canonical order (normalised text, text, key) before any
computation and every random state is fixed, so the same suggestions in any order give the
same groups. Every input ends in exactly one group; a group of one is a suggestion nobody
echoed (what to do with it is the pipeline's choice).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sklearn import config_context
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize as l2_normalize

# Average cosine distance under which suggestions are one group (chosen on the labelled
# fixture; docs/jobs.md shows the adjusted Rand index around it).
DISTANCE_THRESHOLD = 0.6
NEIGHBOURS = 12  # per suggestion, for the blocking graph
BLOCK_CAP = 2000  # exact linkage up to this many (a 2,000² float32 matrix is 16 MB)
BLOCK_STEP = 0.05  # a block past the cap is cut again this much stricter in similarity
MAX_BLOCK_SIMILARITY = 0.9
SVD_COMPONENTS = 128
NGRAMS = (2, 4)
RANDOM_STATE = 0
WORKING_MEMORY_MB = 64  # scikit-learn's chunk size for the neighbour search

_COMMAND = re.compile(r"^\s*[!/]\s*\w+\b[:,]?", re.UNICODE)
_MENTION_OR_URL = re.compile(r"@\w+|https?://\S+", re.UNICODE)
_REPEATS = re.compile(r"(\w)\1+", re.UNICODE)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Chat filler in the languages the community speaks (English, Spanish, Portuguese, French,
# German): words that say "I suggest" rather than what is suggested; compared after repeated
# letters are collapsed, as the text is.
_FILLER = frozenset(
    _REPEATS.sub(r"\1", word)
    for word in """
    a an the to of for in on at and or with be it its is are this that some more new
    i we u you us our my me pls plz plis please add adding get got make let lets need needs
    want wanna should could can would maybe idea suggest suggestion guess yes ok so
    just like really thx thanks ty also too pl por favor porfa un una el la los
    las de del y o que con por para agregar agrega poner pon quiero queremos mas se nos
    os um uma do da dos das e adicionar coloca colocar bota botar
    le les des du et ou une ajouter ajoutez svp stp on veut mettre
    der die das den dem ein eine einen und oder bitte hinzufugen fugt mal wir mehr
    """.split()
)


def normalize(text: str) -> str:
    """What the viewer asks for, in a form that typing style does not change."""
    text = _COMMAND.sub(" ", text, count=1)
    text = _MENTION_OR_URL.sub(" ", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if _kept(ch)).casefold()
    text = _REPEATS.sub(r"\1", text)
    words = [word for word in _NOT_WORD.split(text) if word and word not in _FILLER]
    return " ".join(words)


def _kept(ch: str) -> bool:
    """Drops combining accents, emoji and symbols; keeps letters, digits and separators."""
    category = unicodedata.category(ch)
    return not (category == "Mn" or category.startswith("S") or category in {"Cf", "Co", "Cs"})


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]  # indices into the input, in canonical order
    representative: int  # the member closest to the group's centroid
    cohesion: float  # mean cosine similarity of the members to the centroid, 0–1

    @property
    def size(self) -> int:
        return len(self.members)


def cluster(
    texts: Sequence[str],
    keys: Sequence[Hashable] | None = None,
    *,
    threshold: float = DISTANCE_THRESHOLD,
    on_block: Callable[[int, int], None] | None = None,
) -> list[Group]:
    """Groups `texts` (largest first, then by first member); `keys` (e.g. suggestion ids, in
    the same order) break ties between equal texts so any input order gives the same answer.
    `on_block(done, total)` is called after each block: a caller's unit of work (progress,
    cancellation)."""
    keys = list(range(len(texts))) if keys is None else list(keys)
    if len(keys) != len(texts):
        raise ValueError("keys and texts differ in length")
    normalized = [normalize(text) for text in texts]
    order = sorted(range(len(texts)), key=lambda i: (normalized[i], texts[i], _sortable(keys[i])))
    groups = [_single(i) for i in order if not normalized[i]]  # nothing left to compare
    forms: dict[str, list[int]] = {}  # each distinct wording, in canonical order: who said it
    for i in order:
        if normalized[i]:
            forms.setdefault(normalized[i], []).append(i)
    if len(forms) == 1:
        (said,) = forms.values()
        groups.append(_describe(None, [0], [said], texts))
    elif forms:
        groups.extend(_cluster_forms(list(forms), list(forms.values()), texts, threshold, on_block))
    position = {index: rank for rank, index in enumerate(order)}
    return sorted(groups, key=lambda g: (-g.size, position[g.members[0]]))


def _sortable(key: Hashable) -> tuple[str, str]:
    return (type(key).__name__, f"{key:>20}" if isinstance(key, int) else str(key))


def _single(index: int) -> Group:
    return Group(members=(index,), representative=index, cohesion=1.0)


def _cluster_forms(
    forms: list[str],
    said: list[list[int]],
    texts: Sequence[str],
    threshold: float,
    on_block: Callable[[int, int], None] | None,
) -> list[Group]:
    """Clusters the distinct wordings (a wording typed by fifty viewers is one row: copies
    would fill each other's neighbour lists and hide the typos next to them)."""
    vectors = _vectorize(forms)
    graph = _neighbour_graph(vectors, threshold)
    blocks = _blocks(graph, list(range(len(forms))), 1.0 - threshold)
    groups: list[Group] = []
    for done, rows in enumerate(blocks, start=1):
        for labelled in _split_block(vectors, graph, rows, threshold):
            groups.append(_describe(vectors, labelled, said, texts))
        if on_block is not None:
            on_block(done, len(blocks))
    return groups


def _vectorize(texts: list[str]) -> csr_matrix:
    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=NGRAMS, sublinear_tf=True, dtype=np.float32
    )
    return l2_normalize(vectorizer.fit_transform(texts)).tocsr()


def _neighbour_graph(vectors: csr_matrix, threshold: float) -> csr_matrix:
    """Each row's nearest neighbours closer than `threshold`, weighted by similarity
    (symmetric)."""
    n = vectors.shape[0]
    k = min(NEIGHBOURS + 1, n)
    with config_context(working_memory=WORKING_MEMORY_MB):
        search = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute")
        distances, neighbours = search.fit(vectors).kneighbors(vectors)
    near = (distances < threshold).ravel()
    rows = np.repeat(np.arange(n), k)[near]
    cols = neighbours.ravel()[near]
    weights = np.maximum(1.0 - distances.ravel()[near], 1e-6).astype(np.float32)
    graph = csr_matrix((weights, (rows, cols)), shape=(n, n))
    return graph.maximum(graph.T).tocsr()


def _blocks(graph: csr_matrix, rows: list[int], min_similarity: float) -> list[list[int]]:
    """Connected components of the graph's edges at least `min_similarity`; a component past
    BLOCK_CAP is cut again with a stricter similarity (chat chains ideas through shared
    words), up to a point where it is left whole for the SVD path."""
    sub = graph[rows][:, rows]
    sub = (sub >= min_similarity).astype(np.int8)
    count, labels = connected_components(sub, directed=False)
    parts: list[list[int]] = [[] for _ in range(count)]
    for row, label in zip(rows, labels, strict=True):
        parts[label].append(row)
    out: list[list[int]] = []
    for part in parts:
        if len(part) > BLOCK_CAP and min_similarity + BLOCK_STEP <= MAX_BLOCK_SIMILARITY:
            out.extend(_blocks(graph, part, min_similarity + BLOCK_STEP))
        else:
            out.append(part)
    return sorted(out, key=lambda block: block[0])


def _split_block(
    vectors: csr_matrix, graph: csr_matrix, rows: list[int], threshold: float
) -> list[list[int]]:
    if len(rows) == 1:
        return [rows]
    block = vectors[rows]
    if len(rows) <= BLOCK_CAP:
        distance = 1.0 - (block @ block.T).toarray()
        np.clip(distance, 0.0, 2.0, out=distance)
        np.fill_diagonal(distance, 0.0)
        model = AgglomerativeClustering(
            n_clusters=None, metric="precomputed", linkage="average", distance_threshold=threshold
        )
        labels = model.fit_predict(distance)
    else:
        components = min(SVD_COMPONENTS, block.shape[1] - 1, len(rows) - 1)
        svd = TruncatedSVD(n_components=components, random_state=RANDOM_STATE)
        dense = l2_normalize(svd.fit_transform(block))
        model = AgglomerativeClustering(
            n_clusters=None,
            metric="cosine",
            linkage="average",
            distance_threshold=threshold,
            connectivity=graph[rows][:, rows],
        )
        labels = model.fit_predict(dense)
    split: dict[int, list[int]] = {}
    for row, label in zip(rows, labels, strict=True):
        split.setdefault(int(label), []).append(row)
    return list(split.values())


def _describe(
    vectors: csr_matrix | None, rows: list[int], said: list[list[int]], texts: Sequence[str]
) -> Group:
    """The representative is the wording closest to the centroid (every copy counts); among
    equals (the same n-grams, e.g. the same words in another order) the one said most often;
    then, of who said it, the text with the least around it (shortest as typed)."""
    rows = sorted(rows)  # canonical order
    weights = np.array([len(said[row]) for row in rows], dtype=np.float64)
    if vectors is None or len(rows) == 1:
        similarity = np.ones(len(rows))
    else:
        members = vectors[rows]
        centroid = np.asarray(members.T @ weights).ravel() / weights.sum()
        norm = float(np.linalg.norm(centroid)) or 1.0
        similarity = np.asarray(members @ (centroid / norm)).ravel()
    best = min(range(len(rows)), key=lambda i: (-round(float(similarity[i]), 5), -weights[i], i))
    voices = said[rows[best]]
    representative = min(range(len(voices)), key=lambda j: (len(texts[voices[j]].strip()), j))
    cohesion = float(np.clip((similarity * weights).sum() / weights.sum(), 0.0, 1.0))
    return Group(
        members=tuple(i for row in rows for i in said[row]),
        representative=voices[representative],
        cohesion=round(cohesion, 4),
    )


_TRAILING = re.compile(r"[\s!?.,;:~]+$")


def display_title(text: str, limit: int = 120) -> str:
    """A suggestion as a card's title: without the chat command, emoji or shouting."""
    text = unicodedata.normalize("NFC", _COMMAND.sub(" ", text, count=1))
    text = "".join(ch for ch in text if not _is_symbol(ch))
    text = _TRAILING.sub("", " ".join(text.split()))
    if text.isupper():
        text = text.lower()
    text = text[:1].upper() + text[1:]
    return text[:limit].rstrip() or "Untitled suggestion"


def _is_symbol(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith("S") or category in {"Cf", "Co", "Cs", "Cc", "Mn"}
