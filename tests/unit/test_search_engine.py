"""The in-process search engine on a small hand-made catalogue."""

from __future__ import annotations

import pytest

from app.search import Analyzer, Region, SearchDocument, SearchIndex, UnknownAudience, UnknownRegion
from app.search.query import _edit_distance
from app.search.synonyms import SYNONYMS
from app.search.text import normalise

REGIONS = [
    Region("440000", "广东省", None),
    Region("440100", "广州市", "440000"),
    Region("440106", "天河区", "440100"),
    Region("440103", "荔湾区", "440100"),
    Region("440300", "深圳市", "440000"),
    Region("440305", "南山区", "440300"),
]


def doc(
    code: str,
    name: str,
    region: str | None,
    *,
    basic: str | None = None,
    popularity: int = 0,
    aliases: tuple[str, ...] = (),
    audiences: tuple[str, ...] = ("individual",),
    department: str = "",
) -> SearchDocument:
    return SearchDocument(
        code=code,
        name=name,
        basic_code=basic or code,
        aliases=aliases,
        department=department,
        item_type="公共服务",
        region_code=region,
        audiences=audiences,
        popularity=popularity,
        payload={"name": name, "region": region},
    )


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex.build(
        [
            doc("A1", "机动车驾驶证换证", "440100", basic="DRV", popularity=50, aliases=("换驾照",)),
            doc("A2", "机动车驾驶证换证", "440300", basic="DRV", popularity=90, aliases=("换驾照",)),
            doc("B1", "出生医学证明办理", "440106", basic="BIRTH", popularity=10, department="广州市天河区卫生健康局"),
            doc("B2", "出生医学证明办理", "440103", basic="BIRTH", popularity=30, department="广州市荔湾区卫生健康局"),
            doc("B3", "出生医学证明办理", "440305", basic="BIRTH", popularity=99, department="深圳市南山区卫生健康局"),
            doc("C1", "高新技术企业认定", "440000", audiences=("enterprise",)),
            doc("D1", "社会保障卡申领", "440100", popularity=5),
            doc("E1", "居住证申领", None),
            doc("11440100MB2D0164XH2440289876000", "养犬登记", "440100", basic="0700999001"),
        ],
        regions=REGIONS,
    )


def names(result) -> list[str]:
    return [hit.payload["name"] for hit in result.hits]


def test_everyday_words_pinyin_initials_and_typos_find_the_item(index: SearchIndex) -> None:
    for query in ("换驾照", "jiashizheng", "jsz", "驾使证", "jiashizhneg", "驾照"):
        assert names(index.search(query))[:1] == ["机动车驾驶证换证"], query


def test_equal_relevance_is_ordered_by_popularity_and_views_move_it(index: SearchIndex) -> None:
    result = index.search("出生医学证明", one_per_service=False)
    assert [h.code for h in result.hits] == ["B3", "B2", "B1"]
    index.set_popularity({"B1": 1000, "B2": 1})  # counts only ever raise popularity
    assert [h.code for h in index.search("出生医学证明", one_per_service=False).hits] == ["B1", "B3", "B2"]


def test_one_hit_per_standard_item_by_default(index: SearchIndex) -> None:
    result = index.search("出生医学证明")
    assert result.total == 1 and len(result.hits) == 1


def test_region_filter_keeps_items_of_the_region_above_and_below(index: SearchIndex) -> None:
    tianhe = index.search("出生医学证明", region="440106", one_per_service=False)
    assert [h.code for h in tianhe.hits] == ["B1"]  # the other districts' offices are not Tianhe's
    guangzhou = index.search("出生医学证明", region="440100", one_per_service=False)
    assert {h.code for h in guangzhou.hits} == {"B1", "B2"}
    # A province-level item is available in every district below it.
    assert index.search("高新技术企业认定", region="440305").total == 1
    # An item without a region is available everywhere.
    assert index.search("居住证", region="440103").total == 1
    # Closer scope ranks first at equal text relevance.
    assert index.search("驾驶证换证", region="440106", one_per_service=False).hits[0].code == "A1"


def test_audience_filter(index: SearchIndex) -> None:
    assert index.search("高新技术企业认定", audience="enterprise").total == 1
    assert index.search("高新技术企业认定", audience="individual").total == 0
    with pytest.raises(UnknownAudience):
        index.search("驾驶证", audience="martian")


def test_unknown_region_is_an_error(index: SearchIndex) -> None:
    with pytest.raises(UnknownRegion):
        index.search("驾驶证", region="999999")


def test_department_and_place_names_rank_local_items_first(index: SearchIndex) -> None:
    assert index.search("天河 出生医学证明", one_per_service=False).hits[0].code == "B1"


def test_the_first_document_is_found_by_code_too() -> None:
    small = SearchIndex.build([doc("FIRST00001", "养犬登记", None), doc("SECOND0002", "养犬登记", None)])
    assert [h.code for h in small.search("first00001").hits] == ["FIRST00001"]


def test_implementation_and_basic_codes_find_the_item(index: SearchIndex) -> None:
    by_code = index.search("11440100mb2d0164xh2440289876000")
    assert [h.code for h in by_code.hits] == ["11440100MB2D0164XH2440289876000"]
    assert names(index.search("0700999001")) == ["养犬登记"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "a" * 500,
        "\x00\x01\x1b[31m",
        "'; DROP TABLE items; --",
        "(.*)+[",
        "\\",
        "%%%",
        "\u202e\u200b",
        "🙂" * 50,
    ],
)
def test_any_input_is_safe(index: SearchIndex, query: str) -> None:
    result = index.search(query)
    assert result.total >= 0 and isinstance(result.hits, list)


def test_pages_do_not_overlap(index: SearchIndex) -> None:
    first = index.search("证", page_size=2, one_per_service=False)
    second = index.search("证", page=2, page_size=2, one_per_service=False)
    assert first.total > 2 and first.has_more
    assert not {h.code for h in first.hits} & {h.code for h in second.hits}
    assert index.search("证", page=99, page_size=2).hits == []


def test_normalise_folds_width_case_and_controls() -> None:
    assert normalise("ＪＩＡ\tShi\x00zheng ") == "jia shi zheng"
    assert len(normalise("驾" * 500)) == 100


def test_edit_distance_counts_transpositions_as_one() -> None:
    assert _edit_distance("jiashizheng", "jiashizhneg") == 1
    assert _edit_distance("shebaoka", "shebaokaa") == 1
    assert _edit_distance("abc", "xyz") == 3


def test_synonym_table_is_substantial_and_segmented_as_words() -> None:
    assert len(SYNONYMS) >= 150
    analyzer = Analyzer.default()
    for phrase in ("生孩子", "换驾照", "机动车驾驶证换证", "出生医学证明"):
        assert phrase in analyzer.segmenter.cut(phrase + "的")


def test_segmenter_uses_the_trimmed_dictionary_with_our_terms() -> None:
    """Loading jieba's full 349k-word dictionary stalls a worker for about a second; the trimmed
    one has under a third of the words and still knows the government terms."""
    from app.search.text import Segmenter

    segmenter = Segmenter(extra_words=("粤省事专用词",))
    assert segmenter.cut("办理粤省事专用词") == ["办理", "粤省事专用词"]
    dictionary = segmenter._ready().dictionary
    with open(dictionary, encoding="utf-8") as handle:
        assert sum(1 for _ in handle) < 120_000
