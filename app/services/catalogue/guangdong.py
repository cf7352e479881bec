"""Guangdong's administrative divisions (GB/T 2260 codes) and the shape of its departments.

Dongguan (441900) and Zhongshan (442000) are prefecture-level cities without counties or
districts (towns report to the city directly), so their county-level services are run by the
city itself.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVINCE_CODE = "440000"
PROVINCE_NAME = "广东省"


@dataclass(frozen=True)
class City:
    code: str
    name: str
    short_name: str
    pinyin: str
    phone_area_code: str
    counties: tuple[tuple[str, str], ...]


CITIES: tuple[City, ...] = (
    City(
        "440100",
        "广州市",
        "广州",
        "guangzhou",
        "020",
        (
            ("440103", "荔湾区"),
            ("440104", "越秀区"),
            ("440105", "海珠区"),
            ("440106", "天河区"),
            ("440111", "白云区"),
            ("440112", "黄埔区"),
            ("440113", "番禺区"),
            ("440114", "花都区"),
            ("440115", "南沙区"),
            ("440117", "从化区"),
            ("440118", "增城区"),
        ),
    ),
    City(
        "440200",
        "韶关市",
        "韶关",
        "shaoguan",
        "0751",
        (
            ("440203", "武江区"),
            ("440204", "浈江区"),
            ("440205", "曲江区"),
            ("440222", "始兴县"),
            ("440224", "仁化县"),
            ("440229", "翁源县"),
            ("440232", "乳源瑶族自治县"),
            ("440233", "新丰县"),
            ("440281", "乐昌市"),
            ("440282", "南雄市"),
        ),
    ),
    City(
        "440300",
        "深圳市",
        "深圳",
        "shenzhen",
        "0755",
        (
            ("440303", "罗湖区"),
            ("440304", "福田区"),
            ("440305", "南山区"),
            ("440306", "宝安区"),
            ("440307", "龙岗区"),
            ("440308", "盐田区"),
            ("440309", "龙华区"),
            ("440310", "坪山区"),
            ("440311", "光明区"),
        ),
    ),
    City(
        "440400",
        "珠海市",
        "珠海",
        "zhuhai",
        "0756",
        (
            ("440402", "香洲区"),
            ("440403", "斗门区"),
            ("440404", "金湾区"),
        ),
    ),
    City(
        "440500",
        "汕头市",
        "汕头",
        "shantou",
        "0754",
        (
            ("440507", "龙湖区"),
            ("440511", "金平区"),
            ("440512", "濠江区"),
            ("440513", "潮阳区"),
            ("440514", "潮南区"),
            ("440515", "澄海区"),
            ("440523", "南澳县"),
        ),
    ),
    City(
        "440600",
        "佛山市",
        "佛山",
        "foshan",
        "0757",
        (
            ("440604", "禅城区"),
            ("440605", "南海区"),
            ("440606", "顺德区"),
            ("440607", "三水区"),
            ("440608", "高明区"),
        ),
    ),
    City(
        "440700",
        "江门市",
        "江门",
        "jiangmen",
        "0750",
        (
            ("440703", "蓬江区"),
            ("440704", "江海区"),
            ("440705", "新会区"),
            ("440781", "台山市"),
            ("440783", "开平市"),
            ("440784", "鹤山市"),
            ("440785", "恩平市"),
        ),
    ),
    City(
        "440800",
        "湛江市",
        "湛江",
        "zhanjiang",
        "0759",
        (
            ("440802", "赤坎区"),
            ("440803", "霞山区"),
            ("440804", "坡头区"),
            ("440811", "麻章区"),
            ("440823", "遂溪县"),
            ("440825", "徐闻县"),
            ("440881", "廉江市"),
            ("440882", "雷州市"),
            ("440883", "吴川市"),
        ),
    ),
    City(
        "440900",
        "茂名市",
        "茂名",
        "maoming",
        "0668",
        (
            ("440902", "茂南区"),
            ("440904", "电白区"),
            ("440981", "高州市"),
            ("440982", "化州市"),
            ("440983", "信宜市"),
        ),
    ),
    City(
        "441200",
        "肇庆市",
        "肇庆",
        "zhaoqing",
        "0758",
        (
            ("441202", "端州区"),
            ("441203", "鼎湖区"),
            ("441204", "高要区"),
            ("441223", "广宁县"),
            ("441224", "怀集县"),
            ("441225", "封开县"),
            ("441226", "德庆县"),
            ("441284", "四会市"),
        ),
    ),
    City(
        "441300",
        "惠州市",
        "惠州",
        "huizhou",
        "0752",
        (
            ("441302", "惠城区"),
            ("441303", "惠阳区"),
            ("441322", "博罗县"),
            ("441323", "惠东县"),
            ("441324", "龙门县"),
        ),
    ),
    City(
        "441400",
        "梅州市",
        "梅州",
        "meizhou",
        "0753",
        (
            ("441402", "梅江区"),
            ("441403", "梅县区"),
            ("441422", "大埔县"),
            ("441423", "丰顺县"),
            ("441424", "五华县"),
            ("441426", "平远县"),
            ("441427", "蕉岭县"),
            ("441481", "兴宁市"),
        ),
    ),
    City(
        "441500",
        "汕尾市",
        "汕尾",
        "shanwei",
        "0660",
        (
            ("441502", "城区"),
            ("441521", "海丰县"),
            ("441523", "陆河县"),
            ("441581", "陆丰市"),
        ),
    ),
    City(
        "441600",
        "河源市",
        "河源",
        "heyuan",
        "0762",
        (
            ("441602", "源城区"),
            ("441621", "紫金县"),
            ("441622", "龙川县"),
            ("441623", "连平县"),
            ("441624", "和平县"),
            ("441625", "东源县"),
        ),
    ),
    City(
        "441700",
        "阳江市",
        "阳江",
        "yangjiang",
        "0662",
        (
            ("441702", "江城区"),
            ("441704", "阳东区"),
            ("441721", "阳西县"),
            ("441781", "阳春市"),
        ),
    ),
    City(
        "441800",
        "清远市",
        "清远",
        "qingyuan",
        "0763",
        (
            ("441802", "清城区"),
            ("441803", "清新区"),
            ("441821", "佛冈县"),
            ("441823", "阳山县"),
            ("441825", "连山壮族瑶族自治县"),
            ("441826", "连南瑶族自治县"),
            ("441881", "英德市"),
            ("441882", "连州市"),
        ),
    ),
    City("441900", "东莞市", "东莞", "dongguan", "0769", ()),
    City("442000", "中山市", "中山", "zhongshan", "0760", ()),
    City(
        "445100",
        "潮州市",
        "潮州",
        "chaozhou",
        "0768",
        (
            ("445102", "湘桥区"),
            ("445103", "潮安区"),
            ("445122", "饶平县"),
        ),
    ),
    City(
        "445200",
        "揭阳市",
        "揭阳",
        "jieyang",
        "0663",
        (
            ("445202", "榕城区"),
            ("445203", "揭东区"),
            ("445222", "揭西县"),
            ("445224", "惠来县"),
            ("445281", "普宁市"),
        ),
    ),
    City(
        "445300",
        "云浮市",
        "云浮",
        "yunfu",
        "0766",
        (
            ("445302", "云城区"),
            ("445303", "云安区"),
            ("445321", "新兴县"),
            ("445322", "郁南县"),
            ("445381", "罗定市"),
        ),
    ),
)


@dataclass(frozen=True)
class RegionRecord:
    code: str
    name: str
    level: str  # province, city, county
    parent_code: str | None
    phone_area_code: str


def regions() -> list[RegionRecord]:
    """The province, its 21 cities and their 122 counties and districts, parents first."""
    records = [RegionRecord(PROVINCE_CODE, PROVINCE_NAME, "province", None, "020")]
    for city in CITIES:
        records.append(RegionRecord(city.code, city.name, "city", PROVINCE_CODE, city.phone_area_code))
    for city in CITIES:
        for code, name in city.counties:
            records.append(RegionRecord(code, name, "county", city.code, city.phone_area_code))
    return records


@dataclass(frozen=True)
class DepartmentKind:
    """How one line of government is named at each level ({city}, {county} filled in)."""

    slug: str
    province: str
    city: str
    county: str | None  # None: the city office serves its counties too
    hotline_suffix: str


DEPARTMENT_KINDS: dict[str, DepartmentKind] = {
    kind.slug: kind
    for kind in (
        DepartmentKind("public_security", "广东省公安厅", "{city}公安局", "{city}公安局{county}分局", "110"),
        DepartmentKind("traffic_police", "广东省公安厅交通管理局", "{city}公安局交通警察支队", None, "122"),
        DepartmentKind("exit_entry", "广东省公安厅出入境管理局", "{city}公安局出入境管理支队", None, "110"),
        DepartmentKind(
            "human_resources",
            "广东省人力资源和社会保障厅",
            "{city}人力资源和社会保障局",
            "{city}{county}人力资源和社会保障局",
            "12333",
        ),
        DepartmentKind(
            "healthcare_security", "广东省医疗保障局", "{city}医疗保障局", "{city}{county}医疗保障局", "12393"
        ),
        DepartmentKind("health", "广东省卫生健康委员会", "{city}卫生健康委员会", "{city}{county}卫生健康局", "12320"),
        DepartmentKind("civil_affairs", "广东省民政厅", "{city}民政局", "{city}{county}民政局", "12345"),
        DepartmentKind(
            "market_regulation", "广东省市场监督管理局", "{city}市场监督管理局", "{city}{county}市场监督管理局", "12315"
        ),
        DepartmentKind(
            "taxation",
            "国家税务总局广东省税务局",
            "国家税务总局{city}税务局",
            "国家税务总局{city}{county}税务局",
            "12366",
        ),
        DepartmentKind("housing_fund", "广东省住房和城乡建设厅", "{city}住房公积金管理中心", None, "12329"),
        DepartmentKind(
            "housing", "广东省住房和城乡建设厅", "{city}住房和城乡建设局", "{city}{county}住房和城乡建设局", "12345"
        ),
        DepartmentKind(
            "natural_resources", "广东省自然资源厅", "{city}自然资源局", "{city}{county}自然资源局", "12345"
        ),
        DepartmentKind("real_estate", "广东省自然资源厅", "{city}不动产登记中心", None, "12345"),
        DepartmentKind("transport", "广东省交通运输厅", "{city}交通运输局", "{city}{county}交通运输局", "12328"),
        DepartmentKind("education", "广东省教育厅", "{city}教育局", "{city}{county}教育局", "12345"),
        DepartmentKind(
            "veterans", "广东省退役军人事务厅", "{city}退役军人事务局", "{city}{county}退役军人事务局", "12345"
        ),
        DepartmentKind(
            "disabled_persons", "广东省残疾人联合会", "{city}残疾人联合会", "{city}{county}残疾人联合会", "12385"
        ),
        DepartmentKind("justice", "广东省司法厅", "{city}司法局", "{city}{county}司法局", "12348"),
        DepartmentKind(
            "culture_tourism", "广东省文化和旅游厅", "{city}文化广电旅游局", "{city}{county}文化广电旅游体育局", "12345"
        ),
        DepartmentKind("ecology", "广东省生态环境厅", "{city}生态环境局", "{city}生态环境局{county}分局", "12369"),
        DepartmentKind("emergency", "广东省应急管理厅", "{city}应急管理局", "{city}{county}应急管理局", "12350"),
        DepartmentKind("agriculture", "广东省农业农村厅", "{city}农业农村局", "{city}{county}农业农村局", "12316"),
        DepartmentKind("forestry", "广东省林业局", "{city}林业局", "{city}{county}林业局", "12345"),
        DepartmentKind("water", "广东省水利厅", "{city}水务局", "{city}{county}水务局", "12345"),
        DepartmentKind(
            "development_reform", "广东省发展和改革委员会", "{city}发展和改革局", "{city}{county}发展和改革局", "12345"
        ),
        DepartmentKind("science", "广东省科学技术厅", "{city}科学技术局", None, "12345"),
        DepartmentKind("finance", "广东省财政厅", "{city}财政局", None, "12345"),
        DepartmentKind("commerce", "广东省商务厅", "{city}商务局", "{city}{county}商务局", "12345"),
        DepartmentKind("drug_administration", "广东省药品监督管理局", "{city}市场监督管理局", None, "12315"),
        DepartmentKind("fire_rescue", "广东省消防救援总队", "{city}消防救援支队", None, "96119"),
        DepartmentKind("industry_it", "广东省工业和信息化厅", "{city}工业和信息化局", None, "12345"),
        DepartmentKind("hk_macao", "广东省人民政府港澳事务办公室", "{city}人民政府港澳事务局", None, "12345"),
    )
}

# Provincial bodies that implement items only at provincial level, named as they are.
PROVINCIAL_ONLY = (
    "广东省政务服务和数据管理局",
    "广东省统计局",
    "广东省体育局",
    "广东省知识产权局",
    "广东省档案馆",
    "广东省地方金融管理局",
    "广东省能源局",
    "广东省中医药局",
    "广东省人民防空办公室",
    "广东省通信管理局",
)


def department_name(kind: str, *, city: City | None = None, county: str | None = None) -> str:
    pattern = DEPARTMENT_KINDS[kind]
    if city is None:
        return pattern.province
    if county is None or pattern.county is None:
        return pattern.city.format(city=city.name)
    if county.endswith("区"):
        return pattern.county.format(city=city.name, county=county)
    # Counties and county-level cities name their offices without the prefecture.
    if "分局" in pattern.county:
        return pattern.city.format(city=county)
    return pattern.county.format(city="", county=county)
