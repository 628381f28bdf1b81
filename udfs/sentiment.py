"""A small lexicon sentiment classifier for English and French feedback, as an Arrow UDF.

``classify_sentiment_arrow(comments)`` labels every string of a pyarrow array ``positive``,
``neutral`` or ``negative`` (NULL stays NULL) and :func:`register_sentiment_udf` installs it
on a DuckDB connection as ``classify_sentiment(VARCHAR) -> VARCHAR``, which the
``feedback_sentiment`` model calls for comments that carry no sentiment label.

How it decides, per comment:

1. lower-case; English ``n't`` becomes `` not``; French elisions (``n'``, ``l'``…) split off;
2. words are looked up in two word lists (English and French, with and without accents):
   +1 for a positive word, −1 for a negative one;
3. a word is negated — its sign flips — when a negator (``not``, ``no``, ``never``, ``pas``,
   ``ne``/``n'``, ``jamais``, ``aucun``…) stands within the three words before it in the same
   clause (``.``, ``,``, ``;``, ``!``, ``?``, ``but``, ``mais`` end a clause): "not good" and
   "pas bon" are negative, "not bad" and "pas mal" positive;
4. the sum decides: above 0 positive, below 0 negative, 0 (no sentiment word) neutral.

Everything runs on whole Arrow arrays (tokenising with Arrow compute kernels, the lookups and
the negation window with numpy), one call per DuckDB vector. It is deliberately small: a
default that makes the feedback model work without a labelled column, not a language model.
Register your own function under the same name to replace it.

>>> import pyarrow as pa
>>> classify_sentiment_arrow(pa.array(["Great tool!", "not good", "pas mal", None])).to_pylist()
['positive', 'negative', 'positive', None]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["LABELS", "classify_sentiment_arrow", "register_sentiment_udf", "sentiment_scores"]

LABELS = ("negative", "neutral", "positive")
NEGATION_WINDOW = 3  # a negator flips the sentiment words up to this many words after it

_EN_POSITIVE = """
good great excellent awesome amazing fantastic wonderful love loved loves lovely like liked
likes enjoy enjoyed nice helpful useful easy easier intuitive fast faster quick quickly
reliable simple smooth perfect best better brilliant happy pleased satisfied recommend
recommended efficient powerful clear impressive incredible superb solid saves save saved
valuable worth responsive friendly convenient seamless outstanding fine glad thanks thank
"""
_EN_NEGATIVE = """
bad poor terrible awful horrible hate hated hates dislike disliked slow slower buggy bug bugs
broken break breaks crash crashes crashed error errors fail fails failed failure confusing
confused difficult hard frustrating frustrated annoying annoyed useless worse worst expensive
overpriced missing lacks lacking lack complicated clunky unreliable unhappy disappointed
disappointing disappointment problem problems issue issues rough laggy cancel cancelled
unusable painful waste wasted ugly outdated awkward nightmare rude
"""
_FR_POSITIVE = """
bon bonne bons bonnes bien super excellent excellente génial géniale genial geniale parfait
parfaite top aime aimons adore adorons facile faciles pratique pratiques rapide rapides utile
utiles efficace efficaces agréable agreable content contente contents satisfait satisfaite
satisfaits ravi ravie merci simple simples intuitif intuitive fiable fiables clair claire
formidable impeccable recommande recommandons réactif réactive reactif reactive meilleur
meilleure mieux
"""
_FR_NEGATIVE = """
mauvais mauvaise mal nul nulle nuls lent lente lents lentes cher chère chere chers chères
cheres difficile difficiles compliqué compliquée complique compliquee bug bugs bogue plante
plantage erreur erreurs problème problèmes probleme problemes inutile inutiles déçu déçue
decu decue décevant décevante decevant decevante horrible affreux pire manque manquant
manquante frustrant frustrante énervant enervant lourd lourde confus confuse panne cassé
casse inutilisable
"""
_NEGATORS = """
not no never nothing nobody none neither nor without hardly barely cannot
pas ne n jamais rien aucun aucune personne ni sans
"""
_CLAUSE_BREAKS = "but however although though yet mais pourtant cependant toutefois"


def _words(text: str) -> list[str]:
    return sorted(set(text.split()))


_LEXICON = {w: 1 for w in _words(_EN_POSITIVE + _FR_POSITIVE)}
_LEXICON.update({w: -1 for w in _words(_EN_NEGATIVE + _FR_NEGATIVE)})
def _normalised(words) -> pa.Array:
    """Word lists go through the comments' normalisation, so both sides compare alike."""
    return pc.utf8_lower(pc.utf8_normalize(pa.array(list(words), pa.string()), "NFC"))


_LEXICON_WORDS = _normalised(_LEXICON)
_LEXICON_SCORES = np.array(list(_LEXICON.values()), dtype=np.int64)
_NEGATOR_WORDS = _normalised(_words(_NEGATORS))
_BREAK = "|"  # the token clause punctuation and clause-breaking words are turned into
_BREAK_WORDS = pa.array([*_words(_CLAUSE_BREAKS), _BREAK], pa.string())


def _as_array(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        return values
    return pa.array(values, pa.string())


def _tokens(comments: pa.Array) -> pa.Array:
    """A list array: the words of each comment, clause breaks as ``|``."""
    text = pc.utf8_lower(pc.utf8_normalize(comments.cast(pa.string()), "NFC"))
    text = pc.replace_substring_regex(text, r"n['’]t\b", " not")  # isn't -> is not
    text = pc.replace_substring_regex(text, r"['’]", " ")  # n'est -> n est, l'outil -> l outil
    text = pc.replace_substring_regex(text, r"[.,;:!?()\[\]\n]+", f" {_BREAK} ")
    # letters of any script and their combining accents (RE2 \w is ASCII only: "génial"
    # must stay one word)
    return pc.split_pattern_regex(pc.utf8_trim_whitespace(text), r"[^\p{L}\p{M}\p{N}_|]+")


def sentiment_scores(comments) -> pa.Int64Array:
    """The signed sum of sentiment words of each comment (NULL for NULL), negation applied."""
    arr = _as_array(comments)
    n = len(arr)
    tokens = _tokens(arr)
    flat = pc.list_flatten(tokens)
    parents = pc.list_parent_indices(tokens).to_numpy(zero_copy_only=False)
    m = len(flat)
    position = pc.index_in(flat, value_set=_LEXICON_WORDS)
    found = position.is_valid().to_numpy(zero_copy_only=False)
    polarity = np.zeros(m, dtype=np.int64)
    if found.any():
        polarity[found] = _LEXICON_SCORES[
            position.filter(position.is_valid()).to_numpy(zero_copy_only=False)
        ]
    is_negator = pc.is_in(flat, value_set=_NEGATOR_WORDS).to_numpy(zero_copy_only=False)
    is_break = pc.is_in(flat, value_set=_BREAK_WORDS).to_numpy(zero_copy_only=False)
    breaks_so_far = np.cumsum(is_break)
    negated = np.zeros(m, dtype=bool)
    index = np.arange(m)
    for k in range(1, NEGATION_WINDOW + 1):
        before = index - k
        ok = before >= 0
        before = np.where(ok, before, 0)
        # same comment, no clause break in between, a negator k words back
        ok &= parents[before] == parents
        ok &= breaks_so_far[before] == breaks_so_far
        negated |= ok & is_negator[before]
    signed = np.where(negated, -polarity, polarity)
    totals = np.bincount(parents, weights=signed, minlength=n).astype(np.int64)
    return pa.array(totals, pa.int64(), mask=arr.is_null().to_numpy(zero_copy_only=False))


def classify_sentiment_arrow(comments) -> pa.StringArray:
    """``positive`` / ``neutral`` / ``negative`` for each string; NULL stays NULL."""
    arr = _as_array(comments)
    scores = sentiment_scores(arr)
    values = scores.fill_null(0).to_numpy(zero_copy_only=False)
    labels = np.array(LABELS, dtype=object)[np.sign(values) + 1]
    return pa.array(labels, pa.string(), mask=arr.is_null().to_numpy(zero_copy_only=False))


def _classify_udf(comments):
    return classify_sentiment_arrow(comments)


def register_sentiment_udf(con):
    """Register ``classify_sentiment(VARCHAR) -> VARCHAR`` on a DuckDB connection.

    Idempotent: a function already registered under that name is removed first. Returns the
    connection.
    """
    import duckdb

    try:
        con.remove_function("classify_sentiment")
    except duckdb.InvalidInputException:
        pass  # not registered yet
    con.create_function(
        "classify_sentiment",
        _classify_udf,
        ["VARCHAR"],
        "VARCHAR",
        type="arrow",
        null_handling="special",
        side_effects=False,
    )
    return con
