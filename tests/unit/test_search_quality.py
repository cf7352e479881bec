"""Search quality: what residents type, and the item they mean, which must be in the top 3.

Runs on the demo catalogue (the full Guangdong base, about 11,000 items). Prints the hit rate
and fails below 90%.
"""

from __future__ import annotations

import pytest

from app.search import Region, SearchDocument, SearchIndex
from app.services.catalogue import demo_data

# (query, region filter, audience filter, expected item name (prefix), expected item region)
QUALITY_SET: list[tuple[str, str | None, str | None, str, str | None]] = [
    # everyday words
    ("生孩子", None, None, "出生医学证明办理", None),
    ("生孩子要办什么", None, None, "生育登记", None),
    ("换驾照", None, None, "机动车驾驶证换证", None),
    ("驾照丢了", None, None, "机动车驾驶证补领", None),
    ("开公司", None, None, "企业设立登记", None),
    ("开个体户", None, None, "个体工商户设立登记", None),
    ("怎么领失业金", None, None, "失业保险金申领", None),
    ("社保卡丢了", None, None, "社会保障卡补换", None),
    ("退休金", None, None, "基本养老保险待遇申领", None),
    ("老人卡", None, None, "老年人优待证办理", None),
    ("租房提取公积金", None, None, "住房公积金提取（租房）", None),
    ("买房提取公积金", None, None, "住房公积金提取（购房）", None),
    ("外地看病报销", None, None, "异地就医备案", None),
    ("去香港", None, None, "往来港澳通行证", None),
    ("结婚", None, None, "内地居民结婚登记", None),
    ("孩子上小学", None, None, "义务教育阶段新生入学登记", None),
    ("老板拖欠工资", None, None, "劳动人事争议仲裁申请", None),
    ("车辆年检", None, None, "机动车检验合格标志核发", None),
    ("交罚款", None, None, "交通违法处理及罚款缴纳", None),
    ("电动车上牌", None, None, "电动自行车登记上牌", None),
    ("良民证", None, None, "无犯罪记录证明开具", None),
    ("身份证过期了", None, None, "居民身份证换领", None),
    ("低保", None, None, "最低生活保障申请", None),
    ("残疾证", None, None, "残疾人证办理", None),
    ("个税退税", None, None, "个人所得税综合所得汇算清缴", None),
    ("领发票", None, None, "发票领用", None),
    ("开饭店", None, None, "食品经营许可", None),
    ("二手房过户", None, None, "不动产转移登记", None),
    ("港车北上", None, None, "香港机动车经港珠澳大桥入出内地牌证申领", None),
    ("家人去世", None, None, "居民死亡医学证明（推断）书办理", None),
    ("宝宝打疫苗", None, None, "预防接种证办理", None),
    ("产假工资", None, None, "生育医疗费用及生育津贴申领", None),
    ("养老金申领", None, None, "基本养老保险待遇申领", None),
    ("营业执照", None, None, "企业设立登记", None),
    # pinyin
    ("jiashizheng", None, None, "机动车驾驶证", None),
    ("shebaoka", None, None, "社会保障卡申领", None),
    ("juzhuzheng", None, None, "居住证申领", None),
    ("gongjijin tiqu", None, None, "住房公积金提取", None),
    ("chushengyixuezhengming", None, None, "出生医学证明办理", None),
    ("hukouqianyi", None, None, "户口迁移（市外迁入）", None),
    ("shiyejin", None, None, "失业保险金申领", None),
    ("huzhao", None, None, "普通护照签发", None),
    # initials
    ("jsz", None, None, "机动车驾驶证", None),
    ("sbk", None, None, "社会保障卡", None),
    ("gjj", None, None, "住房公积金", None),
    ("jzz", None, None, "居住证申领", None),
    ("csyxzm", None, None, "出生医学证明办理", None),
    ("gtgsh", None, None, "个体工商户", None),
    # typos
    ("驾使证换证", None, None, "机动车驾驶证换证", None),
    ("出生医学证名", None, None, "出生医学证明办理", None),
    ("居注证", None, None, "居住证申领", None),
    ("社宝卡", None, None, "社会保障卡", None),
    ("jiashizhneg", None, None, "机动车驾驶证", None),
    ("shebaokaa", None, None, "社会保障卡", None),
    ("gongjjin", None, None, "住房公积金", None),
    # region filters (an item of the province or city is available in every place below it)
    ("出生医学证明", "440106", None, "出生医学证明办理", "440106"),
    ("居住证", "440305", None, "居住证申领", "440305"),
    ("驾驶证换证", "440300", None, "机动车驾驶证换证", "440300"),
    ("结婚登记", "441900", None, "内地居民结婚登记", "441900"),
    ("高龄津贴", "445381", None, "高龄老人津贴申领", "445381"),
    ("港澳通行证签注", "440404", None, "往来港澳通行证签注", "440400"),
    ("高新技术企业认定", "440106", None, "高新技术企业认定", "440000"),
    ("tianhe 出生证", None, None, "出生医学证明办理", "440106"),
    ("广州 公积金提取", None, None, "住房公积金提取", "440100"),
    ("失业金", "441802", None, "失业保险金申领", "441800"),
    # audience filters
    ("开公司", None, "enterprise", "企业设立登记", None),
    ("社保登记", None, "enterprise", "单位社会保险登记", None),
]


@pytest.fixture(scope="module")
def demo_index() -> SearchIndex:
    catalogue = demo_data.generate()
    return SearchIndex.build(
        (
            SearchDocument(
                code=item.code,
                name=item.name,
                basic_code=item.basic_code,
                aliases=item.aliases,
                department=item.department_name,
                item_type=item.item_type,
                region_code=item.region_code,
                audiences=item.audiences,
                popularity=item.popularity,
                payload={"name": item.name, "region_code": item.region_code},
            )
            for item in catalogue.items
        ),
        regions=[Region(r.code, r.name, r.parent_code) for r in catalogue.regions],
    )


def _hit(index: SearchIndex, query, region, audience, expected_name, expected_region) -> bool:
    result = index.search(query, region=region, audience=audience, page_size=3)
    for hit in result.hits[:3]:
        if hit.payload["name"].startswith(expected_name) and (
            expected_region is None or hit.payload["region_code"] == expected_region
        ):
            return True
    return False


def test_quality_set_is_large_enough() -> None:
    assert len(QUALITY_SET) >= 50
    kinds = {"region": 0, "pinyin": 0}
    for query, region, _, _, expected_region in QUALITY_SET:
        kinds["region"] += bool(region or expected_region)
        kinds["pinyin"] += query.replace(" ", "").isascii()
    assert kinds["region"] >= 5 and kinds["pinyin"] >= 15


def test_search_quality_hit_rate(demo_index: SearchIndex, capsys: pytest.CaptureFixture[str]) -> None:
    misses = [entry for entry in QUALITY_SET if not _hit(demo_index, *entry)]
    rate = 1 - len(misses) / len(QUALITY_SET)
    with capsys.disabled():
        print(f"\nsearch quality: {len(QUALITY_SET) - len(misses)}/{len(QUALITY_SET)} in the top 3 ({rate:.1%})")
        for query, region, audience, expected, _ in misses:
            top = [h.payload["name"] for h in demo_index.search(query, region=region, audience=audience).hits[:3]]
            print(f"  miss: {query!r} region={region} audience={audience} expected {expected}, got {top}")
    assert rate >= 0.9
