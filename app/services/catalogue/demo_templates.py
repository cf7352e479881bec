"""The standard services the demo catalogue is built from (names as 广东政务服务网 lists them).

Each template is one standard item (事项基本目录); the generator multiplies it across the
regions that implement it (实施清单). Materials name keys of MATERIALS or are written out.
"""

from __future__ import annotations

from dataclasses import dataclass

ITEM_TYPE_CODES = {
    "行政许可": "01",
    "行政征收": "04",
    "行政给付": "05",
    "行政确认": "07",
    "行政奖励": "08",
    "行政裁决": "09",
    "其他行政权力": "10",
    "公共服务": "20",
}

ONLINE_DEPTHS = {1: "一级（信息发布）", 2: "二级（在线预约、表格下载）", 3: "三级（在线预审、受理）", 4: "四级（全程网办）"}


@dataclass(frozen=True)
class MaterialSpec:
    name: str
    form: str  # original, copy, electronic
    copies: int
    required: bool
    licence_type: str | None = None
    note: str = ""


MATERIALS: dict[str, MaterialSpec] = {
    "id": MaterialSpec("居民身份证", "original", 1, True, "resident_id_card", "核验原件，可用电子身份证代替"),
    "hukou": MaterialSpec("居民户口簿", "original", 1, True, "household_register"),
    "photo": MaterialSpec("近期免冠证件照片", "electronic", 1, True, None, "可现场拍摄或上传符合标准的电子照片"),
    "marriage": MaterialSpec("结婚证", "original", 1, True, "marriage_certificate"),
    "birth_cert": MaterialSpec("出生医学证明", "original", 1, True, "birth_medical_certificate"),
    "driving": MaterialSpec("机动车驾驶证", "original", 1, True, "driving_licence"),
    "vehicle": MaterialSpec("机动车行驶证", "original", 1, True, "vehicle_licence"),
    "sscard": MaterialSpec("社会保障卡", "original", 1, False, "social_security_card"),
    "business": MaterialSpec("营业执照", "copy", 1, True, "business_licence", "加盖单位公章"),
    "property": MaterialSpec("不动产权证书", "original", 1, True, "real_estate_certificate"),
    "residence": MaterialSpec("居住证", "original", 1, True, "residence_permit"),
    "disability": MaterialSpec("残疾人证", "original", 1, True, "disability_certificate"),
    "hkmo_pass": MaterialSpec("往来港澳通行证", "original", 1, True, "hk_macao_pass"),
    "hkmo_permit": MaterialSpec("港澳居民来往内地通行证", "original", 1, True, "hk_macao_home_return_permit"),
    "veteran": MaterialSpec("退役证明", "copy", 1, True, "veteran_certificate"),
    "medical_exam": MaterialSpec("县级或部队团级以上医疗机构出具的体检证明", "original", 1, True),
    "lease": MaterialSpec("房屋租赁合同或住所证明", "copy", 1, True),
    "contract": MaterialSpec("劳动合同", "copy", 1, True),
    "bank": MaterialSpec("本人银行账户信息", "copy", 1, True, None, "用于发放待遇资金"),
    "proxy": MaterialSpec("授权委托书及受托人身份证件", "original", 1, False, None, "委托他人办理时提供"),
    "articles": MaterialSpec("公司章程", "original", 1, True),
    "site": MaterialSpec("经营场所使用证明", "copy", 1, True),
    "invoice": MaterialSpec("医疗费用票据及费用清单", "original", 1, True),
    "discharge": MaterialSpec("出院记录或诊断证明", "copy", 1, True),
    "death": MaterialSpec("居民死亡医学证明（推断）书", "original", 1, True, "death_medical_certificate"),
    "income": MaterialSpec("家庭收入及财产状况申报表", "original", 1, True),
    "diploma": MaterialSpec("学历证书", "copy", 1, True, "diploma"),
    "purchase": MaterialSpec("购房合同或不动产权证书", "copy", 1, True, "real_estate_certificate"),
    "tax_record": MaterialSpec("完税凭证", "electronic", 1, True),
    "plan": MaterialSpec("建设工程设计文件及施工图审查合格书", "electronic", 1, True),
    "eia": MaterialSpec("建设项目环境影响报告表", "electronic", 1, True),
    "seal": MaterialSpec("印章印模", "electronic", 1, True),
    "fund_account": MaterialSpec("住房公积金账户信息", "electronic", 1, True, "housing_fund_account"),
}


@dataclass(frozen=True)
class ServiceTemplate:
    name: str
    item_type: str
    department: str  # a DepartmentKind slug
    level: str  # province, city, county
    audiences: tuple[str, ...]
    aliases: tuple[str, ...]
    materials: tuple[str, ...]  # MATERIALS keys, or "raw:<name>"
    legal_basis: str
    zones: tuple[str, ...] = ()
    hotness: int = 1  # 1 rare .. 5 very common, drives demo popularity
    fee: tuple[str, int, str] | None = None  # name, fen, basis
    online_depth: int = 4
    conditions: tuple[str, ...] = ()


def _t(name, item_type, department, level, audiences, aliases, materials, basis, zones="", hot=1,
       fee=None, depth=4, conditions=()):
    return ServiceTemplate(
        name=name,
        item_type=item_type,
        department=department,
        level=level,
        audiences=tuple(audiences.split()),
        aliases=tuple(a for a in aliases.split("|") if a),
        materials=tuple(m for m in materials.split() if m),
        legal_basis=basis,
        zones=tuple(zones.split()),
        hotness=hot,
        fee=fee,
        online_depth=depth,
        conditions=tuple(conditions),
    )


I, E, IE = "individual", "enterprise", "individual enterprise"
HUKOU_LAW = "《中华人民共和国户口登记条例》"
ID_LAW = "《中华人民共和国居民身份证法》"
ROAD_LAW = "《中华人民共和国道路交通安全法》《机动车驾驶证申领和使用规定》"
VEHICLE_LAW = "《中华人民共和国道路交通安全法》《机动车登记规定》"
EXIT_LAW = "《中华人民共和国出境入境管理法》《中国公民因私事往来香港地区或者澳门地区的暂行管理办法》"
SOCIAL_LAW = "《中华人民共和国社会保险法》"
UNEMPLOY_LAW = "《中华人民共和国社会保险法》《失业保险条例》《广东省失业保险条例》"
EMPLOY_LAW = "《中华人民共和国就业促进法》《就业服务与就业管理规定》"
MEDICAL_LAW = "《中华人民共和国社会保险法》《医疗保障基金使用监督管理条例》"
MATERNAL_LAW = "《中华人民共和国母婴保健法》《广东省人口与计划生育条例》"
MARRIAGE_LAW = "《中华人民共和国民法典》《婚姻登记条例》"
ASSIST_LAW = "《社会救助暂行办法》《广东省社会救助条例》"
REGISTRATION_LAW = "《中华人民共和国市场主体登记管理条例》"
FOOD_LAW = "《中华人民共和国食品安全法》《食品经营许可和备案管理办法》"
TAX_LAW = "《中华人民共和国税收征收管理法》"
FUND_LAW = "《住房公积金管理条例》《广东省住房公积金管理办法》"
ESTATE_LAW = "《不动产登记暂行条例》《不动产登记暂行条例实施细则》"
EDU_LAW = "《中华人民共和国义务教育法》"
VETERAN_LAW = "《中华人民共和国退役军人保障法》《退役士兵安置条例》"
DISABLED_LAW = "《中华人民共和国残疾人保障法》"
TRANSPORT_LAW = "《中华人民共和国道路运输条例》"
TAXI_LAW = "《网络预约出租汽车经营服务管理暂行办法》《出租汽车驾驶员从业资格管理规定》"

TEMPLATES: tuple[ServiceTemplate, ...] = (
    # ---- public security: household register and identity
    _t("出生登记（新生儿入户）", "行政确认", "public_security", "county", I,
       "新生儿入户|新生儿上户口|宝宝落户|报出生户口", "birth_cert hukou id marriage", HUKOU_LAW, "births", 5),
    _t("居民身份证首次申领", "行政确认", "public_security", "county", I,
       "办身份证|身份证办理|第一次办身份证", "hukou photo", ID_LAW, "", 4, ("居民身份证工本费", 2000, "国家发展改革委、财政部关于居民身份证收费标准的规定"), 2),
    _t("居民身份证换领", "行政确认", "public_security", "county", I,
       "身份证到期换证|换身份证|身份证过期", "id hukou photo", ID_LAW, "", 5, ("居民身份证工本费", 2000, "国家发展改革委、财政部关于居民身份证收费标准的规定"), 3),
    _t("居民身份证补领", "行政确认", "public_security", "county", I,
       "身份证丢了|身份证补办|身份证遗失", "hukou photo", ID_LAW, "", 5, ("居民身份证工本费", 2000, "国家发展改革委、财政部关于居民身份证收费标准的规定"), 3),
    _t("居住证申领", "行政确认", "public_security", "county", I,
       "办居住证|申请居住证|暂住证", "id photo lease contract", "《居住证暂行条例》《广东省流动人口服务管理条例》", "", 5),
    _t("居住证签注", "行政确认", "public_security", "county", I,
       "居住证续期|居住证签注延期", "residence id", "《居住证暂行条例》", "", 3),
    _t("户口迁移（市外迁入）", "行政确认", "public_security", "county", I,
       "迁户口|户口迁入|落户", "id hukou raw:准予迁入证明", HUKOU_LAW, "", 4, None, 3),
    _t("人才引进入户", "行政确认", "public_security", "city", I,
       "人才落户|人才入户|大学生落户", "id hukou diploma contract", HUKOU_LAW, "employment", 3, None, 3),
    _t("死亡注销户口", "行政确认", "public_security", "county", I,
       "注销户口|人去世销户", "death hukou raw:申报人身份证件", HUKOU_LAW, "", 2),
    _t("无犯罪记录证明开具", "公共服务", "public_security", "county", I,
       "开无犯罪证明|良民证|无违法犯罪记录证明", "id proxy", "《公安机关办理犯罪记录查询工作规定》", "employment", 4),
    _t("临时居民身份证申领", "行政确认", "public_security", "county", I,
       "临时身份证|办临时身份证", "hukou photo", ID_LAW, "", 3, ("临时居民身份证工本费", 1000, "国家发展改革委、财政部关于居民身份证收费标准的规定"), 2),
    _t("印章刻制备案", "其他行政权力", "public_security", "county", E,
       "刻章备案|刻公章|公章刻制", "business seal", "《国务院对确需保留的行政审批项目设定行政许可的决定》", "startup", 3),
    _t("养犬登记", "行政确认", "public_security", "county", I,
       "狗证|养狗登记|犬只登记", "id raw:犬只免疫证明 photo", "《广东省动物防疫条例》及各市养犬管理规定", "", 2, None, 3),
    # ---- traffic police
    _t("机动车驾驶证换证", "行政许可", "traffic_police", "city", I,
       "换驾照|驾照到期换证|驾驶证期满换证|驾驶证有效期满换证", "id driving photo medical_exam", ROAD_LAW,
       "transport", 5, ("机动车驾驶证工本费", 1000, "《广东省物价局关于机动车驾驶证工本费标准的通知》")),
    _t("机动车驾驶证补领", "行政许可", "traffic_police", "city", I,
       "驾照丢了|补办驾照|驾驶证遗失补证", "id photo", ROAD_LAW, "transport", 4,
       ("机动车驾驶证工本费", 1000, "《广东省物价局关于机动车驾驶证工本费标准的通知》")),
    _t("机动车驾驶证初次申领", "行政许可", "traffic_police", "city", I,
       "考驾照|学车报名|驾考", "id photo medical_exam", ROAD_LAW, "transport", 4, None, 3),
    _t("机动车注册登记", "行政许可", "traffic_police", "city", IE,
       "新车上牌|上车牌|新车登记", "id raw:机动车来历证明 raw:机动车整车出厂合格证明 raw:机动车交通事故责任强制保险凭证", VEHICLE_LAW,
       "transport", 4, ("机动车号牌工本费", 10000, "《广东省物价局关于机动车号牌工本费的通知》"), 3),
    _t("机动车检验合格标志核发", "行政许可", "traffic_police", "city", IE,
       "车辆年检|年审|验车|六年免检", "vehicle raw:机动车交通事故责任强制保险凭证", VEHICLE_LAW, "transport", 5),
    _t("机动车转移登记", "行政许可", "traffic_police", "city", IE,
       "二手车过户|车辆过户|汽车过户", "id vehicle raw:机动车登记证书 raw:二手车销售统一发票", VEHICLE_LAW, "transport", 3, None, 3),
    _t("交通违法处理及罚款缴纳", "其他行政权力", "traffic_police", "city", IE,
       "交罚款|违章处理|交通罚单|处理违章", "driving vehicle", "《中华人民共和国道路交通安全法》《道路交通安全违法行为处理程序规定》", "transport", 5),
    _t("电动自行车登记上牌", "行政确认", "traffic_police", "city", I,
       "电动车上牌|电单车上牌|电动车登记", "id raw:电动自行车产品合格证 raw:购车发票", "《广东省道路交通安全条例》", "transport", 4, None, 3),
    # ---- exit and entry
    _t("往来港澳通行证申领", "行政许可", "exit_entry", "city", I,
       "办港澳通行证|港澳通行证办理|去香港办证", "id photo", EXIT_LAW, "gba", 5, ("往来港澳通行证证件费", 6000, "《国家发展改革委 财政部关于降低部分行政事业性收费标准的通知》"), 3),
    _t("往来港澳通行证签注", "行政许可", "exit_entry", "city", I,
       "港澳签注|去香港签注|续签港澳通行证|港澳通行证续签", "hkmo_pass id", EXIT_LAW, "gba", 5,
       ("往来港澳签注费", 1500, "《国家发展改革委 财政部关于降低部分行政事业性收费标准的通知》")),
    _t("普通护照签发", "行政许可", "exit_entry", "city", I,
       "办护照|护照办理|出国护照", "id photo", "《中华人民共和国护照法》", "", 4, ("普通护照证件费", 12000, "《国家发展改革委 财政部关于降低部分行政事业性收费标准的通知》"), 3),
    _t("往来台湾通行证申领", "行政许可", "exit_entry", "city", I,
       "台湾通行证|去台湾办证", "id photo", "《中国公民往来台湾地区管理办法》", "", 2, None, 3),
    _t("港澳居民来往内地通行证换发", "行政许可", "exit_entry", "city", I,
       "回乡证换证|回乡证办理", "hkmo_permit photo", EXIT_LAW, "gba", 3, None, 3),
    _t("港澳台居民居住证申领", "行政确认", "public_security", "county", I,
       "港澳居民居住证|港澳台居住证办理", "hkmo_permit photo lease", "《港澳台居民居住证申领发放办法》", "gba", 3, None, 3),
    _t("香港机动车经港珠澳大桥入出内地牌证申领", "行政许可", "traffic_police", "province", I,
       "港车北上|澳车北上|粤港车牌|两地牌", "hkmo_permit raw:香港车辆登记文件 raw:内地机动车保险凭证", VEHICLE_LAW, "gba", 4, None, 3),
    # ---- human resources and social security
    _t("失业保险金申领", "行政给付", "human_resources", "city", I,
       "领失业金|失业补助|失业保险待遇|失业救济金", "id bank", UNEMPLOY_LAW, "employment", 5),
    _t("就业登记", "公共服务", "human_resources", "county", IE,
       "就业备案|办就业登记|就业失业登记", "id contract", EMPLOY_LAW, "employment", 4),
    _t("失业登记", "公共服务", "human_resources", "county", I,
       "办失业登记|失业证", "id", EMPLOY_LAW, "employment", 4),
    _t("社会保障卡申领", "公共服务", "human_resources", "city", I,
       "办社保卡|社保卡办理|申请社保卡|新生儿社保卡", "id photo", SOCIAL_LAW, "births social", 5),
    _t("社会保障卡补换", "公共服务", "human_resources", "city", I,
       "社保卡丢了|补办社保卡|社保卡挂失|换社保卡", "id photo", SOCIAL_LAW, "social", 4,
       ("社会保障卡补换工本费", 1000, "《广东省发展改革委 广东省财政厅关于社会保障卡工本费的通知》")),
    _t("基本养老保险待遇申领", "行政给付", "human_resources", "city", I,
       "退休金申领|领养老金|办退休|退休手续", "id bank", SOCIAL_LAW + "《广东省城镇企业职工基本养老保险条例》", "elderly social", 5, None, 3),
    _t("城乡居民基本养老保险参保登记", "公共服务", "human_resources", "county", I,
       "农村养老保险|居民养老保险参保|新农保", "id hukou", SOCIAL_LAW, "social elderly", 3),
    _t("个人权益记录查询打印", "公共服务", "human_resources", "city", I,
       "社保证明|社保缴费证明|打印社保缴费明细|参保证明", "id", SOCIAL_LAW, "social", 5),
    _t("基本养老保险关系转移接续", "公共服务", "human_resources", "city", I,
       "社保转移|养老保险转移|社保关系转出", "id", SOCIAL_LAW, "social", 4),
    _t("职业技能等级认定", "公共服务", "human_resources", "city", I,
       "技能证书|职业资格证|技能鉴定", "id photo diploma", "《中华人民共和国职业教育法》《国家职业技能标准编制技术规程》", "employment", 3, None, 3),
    _t("就业困难人员认定", "行政确认", "human_resources", "county", I,
       "就业困难认定|困难人员就业援助", "id", EMPLOY_LAW, "employment", 2),
    _t("创业担保贷款申请", "行政给付", "human_resources", "city", I,
       "创业贷款|创业贴息贷款|小额担保贷款", "id raw:创业项目计划书 business", "《广东省创业担保贷款实施办法》", "employment startup", 3, None, 3),
    _t("一次性创业资助申领", "行政给付", "human_resources", "county", IE,
       "创业补贴|创业资助", "id business bank", "《广东省就业创业补贴申请办理指导清单》", "employment startup", 3),
    _t("高校毕业生基层就业补贴申领", "行政给付", "human_resources", "county", I,
       "毕业生就业补贴|大学生基层就业补贴", "id diploma contract bank", "《广东省就业创业补贴申请办理指导清单》", "employment", 2),
    _t("工伤认定申请", "行政确认", "human_resources", "city", IE,
       "工伤申请|认定工伤|上班受伤", "id contract discharge raw:工伤认定申请表", "《工伤保险条例》《广东省工伤保险条例》", "social", 3, None, 3),
    _t("劳动人事争议仲裁申请", "行政裁决", "human_resources", "county", IE,
       "劳动仲裁|拖欠工资|讨薪|劳动纠纷", "id contract raw:仲裁申请书", "《中华人民共和国劳动争议调解仲裁法》", "employment", 4, None, 3),
    _t("丧葬补助金和抚恤金申领", "行政给付", "human_resources", "city", I,
       "丧葬费|抚恤金|死亡待遇", "death id bank", SOCIAL_LAW, "", 3),
    _t("单位社会保险登记", "行政确认", "human_resources", "city", E,
       "单位参保登记|企业社保开户|公司社保登记", "business", SOCIAL_LAW, "startup", 3),
    _t("港澳台人员参加社会保险登记", "公共服务", "human_resources", "city", I,
       "港澳人员社保|港澳居民买社保", "hkmo_permit contract", SOCIAL_LAW + "《香港澳门台湾居民在内地（大陆）参加社会保险暂行办法》", "gba social", 2),
    _t("港澳青年创业就业补贴申领", "行政给付", "human_resources", "city", IE,
       "港澳青年创业补贴|大湾区青年创业", "hkmo_permit business bank", "《广东省进一步促进港澳青年在粤就业创业的若干措施》", "gba employment", 2),
    _t("人力资源服务许可", "行政许可", "human_resources", "city", E,
       "职业中介许可|人力资源服务许可证", "business raw:经营场所证明 raw:专职工作人员名单", "《人力资源市场暂行条例》", "", 1, None, 3),
    _t("职工退休人员医疗保险待遇核定", "行政确认", "healthcare_security", "city", I,
       "退休医保|退休人员医保待遇", "id", MEDICAL_LAW, "elderly social", 3),
    # ---- healthcare security
    _t("城乡居民基本医疗保险参保登记", "公共服务", "healthcare_security", "county", I,
       "新生儿参保|办医保|买医保|居民医保", "id hukou", MEDICAL_LAW, "births social", 5),
    _t("异地就医备案", "公共服务", "healthcare_security", "city", I,
       "异地就医|外地看病报销|跨省就医备案", "id", MEDICAL_LAW, "social elderly", 5),
    _t("门诊特定病种待遇认定", "行政确认", "healthcare_security", "city", I,
       "门特|慢性病报销|门慢|特殊病种", "id discharge", MEDICAL_LAW, "social elderly", 4, None, 3),
    _t("医疗费用零星报销", "行政给付", "healthcare_security", "city", I,
       "医药费报销|看病报销|手工报销|医保报销", "id invoice discharge bank", MEDICAL_LAW, "social", 4, None, 3),
    _t("生育医疗费用及生育津贴申领", "行政给付", "healthcare_security", "city", I,
       "生育津贴|产假工资|生育保险报销|生育保险待遇", "id birth_cert bank", MEDICAL_LAW + "《广东省职工生育保险规定》", "births social", 5),
    _t("基本医疗保险关系转移接续", "公共服务", "healthcare_security", "city", I,
       "医保转移|医保关系转入", "id", MEDICAL_LAW, "social", 3),
    # ---- health
    _t("出生医学证明办理", "公共服务", "health", "county", I,
       "出生证|办出生证明|宝宝出生证|新生儿出生证", "id marriage raw:分娩记录", MATERNAL_LAW, "births", 5),
    _t("出生医学证明补发", "公共服务", "health", "county", I,
       "出生证丢了|补办出生证", "id hukou", MATERNAL_LAW, "births", 2, None, 3),
    _t("生育登记", "公共服务", "health", "county", I,
       "准生证|生育服务证|生二胎登记|生育服务登记|生三胎登记", "id", MATERNAL_LAW, "births", 5),
    _t("预防接种证办理", "公共服务", "health", "county", I,
       "打疫苗|疫苗本|接种证", "birth_cert id", "《中华人民共和国疫苗管理法》", "births", 4, None, 2),
    _t("婚前医学检查", "公共服务", "health", "county", I,
       "婚检|免费婚检", "id", MATERNAL_LAW, "births", 3, None, 2),
    _t("计划生育家庭奖励扶助金申领", "行政给付", "health", "county", I,
       "独生子女奖励|计生奖励扶助", "id hukou bank", MATERNAL_LAW, "elderly", 2),
    _t("居民死亡医学证明（推断）书办理", "公共服务", "health", "county", I,
       "死亡证明|开死亡证明", "id raw:死者身份证件", "《关于进一步规范人口死亡医学证明和信息登记管理工作的通知》", "", 2, None, 2),
    _t("医师执业注册", "行政许可", "health", "city", I,
       "医师注册|医生执业证", "id raw:医师资格证书 medical_exam", "《中华人民共和国医师法》", "", 2),
    _t("护士执业注册", "行政许可", "health", "city", I,
       "护士注册|护士执业证", "id raw:护士执业资格考试成绩合格证明 medical_exam", "《护士条例》", "", 2),
    _t("医疗机构执业登记", "行政许可", "health", "city", E,
       "开诊所|诊所执业许可|医疗机构许可证", "business raw:医疗机构建筑设计平面图 raw:医务人员名单", "《医疗机构管理条例》", "startup", 1, None, 3),
    _t("公共场所卫生许可", "行政许可", "health", "county", E,
       "卫生许可证|开美容店卫生许可|酒店卫生许可", "business raw:卫生检测报告", "《公共场所卫生管理条例》", "startup", 3),
    # ---- civil affairs
    _t("内地居民结婚登记", "行政确认", "civil_affairs", "county", I,
       "领结婚证|结婚|扯证|登记结婚", "id hukou photo", MARRIAGE_LAW, "births", 5, None, 2),
    _t("内地居民离婚登记", "行政确认", "civil_affairs", "county", I,
       "离婚|协议离婚|办离婚", "id hukou marriage raw:离婚协议书", MARRIAGE_LAW, "", 3, None, 2),
    _t("补领婚姻登记证", "行政确认", "civil_affairs", "county", I,
       "结婚证丢了|补办结婚证", "id hukou photo", MARRIAGE_LAW, "", 2, None, 2),
    _t("高龄老人津贴申领", "行政给付", "civil_affairs", "county", I,
       "高龄津贴|长寿金|老人补贴|长者津贴", "id hukou bank", "《广东省高龄老人津贴制度实施办法》", "elderly", 4),
    _t("老年人优待证办理", "公共服务", "civil_affairs", "county", I,
       "老人证|敬老卡|长者卡|老年卡|老人免费乘车", "id photo", "《中华人民共和国老年人权益保障法》《广东省实施〈中华人民共和国老年人权益保障法〉办法》", "elderly", 5),
    _t("居家养老服务资助申请", "行政给付", "civil_affairs", "county", I,
       "居家养老补贴|养老服务补贴", "id hukou income", "《广东省养老服务条例》", "elderly", 3, None, 3),
    _t("最低生活保障申请", "行政给付", "civil_affairs", "county", I,
       "低保|吃低保|申请低保", "id hukou income bank", ASSIST_LAW, "", 4, None, 3),
    _t("特困人员救助供养申请", "行政给付", "civil_affairs", "county", I,
       "五保户|特困供养", "id hukou income", ASSIST_LAW, "elderly", 2, None, 3),
    _t("临时救助申请", "行政给付", "civil_affairs", "county", I,
       "困难救助|急难救助", "id income bank", ASSIST_LAW, "", 3, None, 3),
    _t("困难残疾人生活补贴和重度残疾人护理补贴申领", "行政给付", "civil_affairs", "county", I,
       "残疾人两项补贴|残疾人补贴|重度残疾护理补贴", "id disability bank", DISABLED_LAW + "《广东省困难残疾人生活补贴和重度残疾人护理补贴制度实施办法》", "disability", 4),
    _t("基本殡葬服务费用减免", "行政给付", "civil_affairs", "county", I,
       "殡葬补贴|火化费减免|丧葬减免", "death id", "《殡葬管理条例》《广东省殡葬管理规定》", "", 2),
    _t("养老机构备案", "其他行政权力", "civil_affairs", "county", E,
       "开养老院|养老院备案", "business raw:消防安全证明 site", "《中华人民共和国老年人权益保障法》《养老机构管理办法》", "elderly", 1),
    _t("社会团体成立登记", "行政许可", "civil_affairs", "city", E,
       "成立协会|社团登记|成立商会", "raw:章程草案 raw:发起人身份证明 site", "《社会团体登记管理条例》", "", 1, None, 3),
    _t("收养登记", "行政确认", "civil_affairs", "city", I,
       "领养孩子|收养小孩", "id hukou marriage raw:收养申请书", MARRIAGE_LAW, "births", 1, None, 2),
    # ---- market regulation
    _t("个体工商户设立登记", "行政许可", "market_regulation", "county", IE,
       "开个体户|办个体执照|注册个体户|开小店|个体户营业执照", "id site", REGISTRATION_LAW + "《促进个体工商户发展条例》", "startup", 5),
    _t("个体工商户变更登记", "行政许可", "market_regulation", "county", IE,
       "个体户变更|个体执照变更", "id business", REGISTRATION_LAW, "startup", 3),
    _t("个体工商户注销登记", "行政许可", "market_regulation", "county", IE,
       "个体户注销|注销个体执照", "id business", REGISTRATION_LAW, "", 3),
    _t("企业设立登记", "行政许可", "market_regulation", "county", E,
       "开公司|注册公司|办营业执照|成立公司|公司注册", "id articles site", REGISTRATION_LAW + "《中华人民共和国公司法》", "startup", 5),
    _t("企业变更登记", "行政许可", "market_regulation", "county", E,
       "公司变更|变更法人|变更经营范围|公司改名", "business raw:股东会决议", REGISTRATION_LAW, "startup", 4),
    _t("企业注销登记", "行政许可", "market_regulation", "county", E,
       "公司注销|关公司|注销营业执照", "business raw:清算报告", REGISTRATION_LAW, "", 3),
    _t("食品经营许可", "行政许可", "market_regulation", "county", E,
       "餐饮许可证|开饭店|食品经营许可证|开餐厅", "business raw:食品安全管理制度 site", FOOD_LAW, "startup", 4),
    _t("特种设备使用登记", "行政许可", "market_regulation", "city", E,
       "电梯登记|锅炉使用登记", "business raw:特种设备产品合格证", "《中华人民共和国特种设备安全法》", "", 1),
    _t("药品经营许可（零售）", "行政许可", "drug_administration", "city", E,
       "开药店|药店许可证", "business raw:执业药师注册证 site", "《中华人民共和国药品管理法》《药品经营和使用质量监督管理办法》", "startup", 2, None, 3),
    _t("工业产品生产许可证核发", "行政许可", "market_regulation", "province", E,
       "生产许可证|工业品生产许可", "business raw:产品检验报告", "《中华人民共和国工业产品生产许可证管理条例》", "", 1, None, 3),
    _t("药品生产许可证核发", "行政许可", "drug_administration", "province", E,
       "药品生产许可|药厂许可", "business raw:质量管理体系文件", "《中华人民共和国药品管理法》", "", 1, None, 3),
    # ---- taxation
    _t("发票领用", "其他行政权力", "taxation", "county", E,
       "领发票|申领发票|发票申请|开发票", "business", TAX_LAW + "《中华人民共和国发票管理办法》", "startup", 4),
    _t("个人所得税综合所得汇算清缴", "行政征收", "taxation", "county", I,
       "个税退税|个税汇算|退税|年度汇算", "id bank", "《中华人民共和国个人所得税法》", "", 5),
    _t("纳税人信息确认（新办纳税人）", "其他行政权力", "taxation", "county", E,
       "税务登记|新办企业税务|税务报到", "business id", TAX_LAW, "startup", 3),
    _t("灵活就业人员社会保险费缴纳", "行政征收", "taxation", "county", I,
       "灵活就业交社保|自己交社保|个人交社保", "id", SOCIAL_LAW + "《社会保险费征缴暂行条例》", "social employment", 5),
    _t("城乡居民医疗保险费缴纳", "行政征收", "taxation", "county", I,
       "交医保|缴纳医保费|居民医保缴费", "id", MEDICAL_LAW, "social", 5),
    _t("契税申报", "行政征收", "taxation", "county", IE,
       "买房交契税|契税缴纳", "id purchase", "《中华人民共和国契税法》", "housing", 3, None, 3),
    _t("车船税缴纳", "行政征收", "taxation", "county", IE,
       "车船税|汽车交税", "vehicle", "《中华人民共和国车船税法》", "transport", 2),
    _t("个人所得税纳税记录开具", "公共服务", "taxation", "county", I,
       "个税证明|完税证明|纳税证明", "id", TAX_LAW, "", 4),
    _t("粤港澳大湾区个人所得税优惠政策财政补贴申报", "行政给付", "finance", "city", I,
       "大湾区个税补贴|境外高端人才个税补贴|大湾区个税优惠", "id tax_record contract", "《关于粤港澳大湾区个人所得税优惠政策的通知》", "gba", 2, None, 3),
    # ---- housing provident fund
    _t("住房公积金提取（购房）", "公共服务", "housing_fund", "city", I,
       "取公积金|提公积金|公积金提取|买房提取公积金", "id purchase fund_account", FUND_LAW, "housing", 5),
    _t("住房公积金提取（租房）", "公共服务", "housing_fund", "city", I,
       "租房提取公积金|房租提取公积金", "id lease fund_account", FUND_LAW, "housing", 5),
    _t("住房公积金提取（退休）", "公共服务", "housing_fund", "city", I,
       "退休提取公积金|退休销户提取", "id fund_account bank", FUND_LAW, "housing elderly", 3),
    _t("住房公积金个人住房贷款", "公共服务", "housing_fund", "city", I,
       "公积金贷款|公积金买房贷款", "id marriage purchase fund_account", FUND_LAW, "housing", 4, None, 3),
    _t("住房公积金单位缴存登记", "公共服务", "housing_fund", "city", E,
       "公积金开户|单位公积金开户", "business", FUND_LAW, "startup housing", 3),
    _t("住房公积金异地转移接续", "公共服务", "housing_fund", "city", I,
       "公积金转移|公积金异地转入", "id", FUND_LAW, "housing", 3),
    _t("住房公积金缴存证明开具", "公共服务", "housing_fund", "city", I,
       "公积金证明|公积金缴存明细", "id", FUND_LAW, "housing", 4),
    # ---- housing and real estate
    _t("公共租赁住房申请", "行政给付", "housing", "county", I,
       "公租房|申请廉租房|保障房", "id hukou income", "《公共租赁住房管理办法》", "housing", 4, None, 3),
    _t("建筑工程施工许可证核发", "行政许可", "housing", "county", E,
       "施工许可证|开工许可", "business plan", "《中华人民共和国建筑法》《建筑工程施工许可管理办法》", "", 2, None, 3),
    _t("商品房预售许可", "行政许可", "housing", "city", E,
       "预售证|楼盘预售许可", "business raw:建设工程规划许可证", "《城市商品房预售管理办法》", "", 1, None, 3),
    _t("房屋租赁登记备案", "公共服务", "housing", "county", IE,
       "租房备案|租赁合同备案|租房合同登记", "id lease property", "《商品房屋租赁管理办法》", "housing", 4),
    _t("建筑业企业资质核准", "行政许可", "housing", "province", E,
       "建筑资质|施工资质", "business raw:技术负责人证明", "《中华人民共和国建筑法》《建筑业企业资质管理规定》", "", 1, None, 3),
    _t("不动产转移登记", "行政确认", "real_estate", "city", IE,
       "房产过户|二手房过户|买房办证|房屋过户", "id property raw:不动产买卖合同 tax_record", ESTATE_LAW, "housing", 5, ("不动产登记费", 8000, "《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》"), 3),
    _t("国有建设用地使用权及房屋所有权首次登记", "行政确认", "real_estate", "city", IE,
       "新房办证|办房产证|拿房产证", "id raw:商品房买卖合同 tax_record", ESTATE_LAW, "housing", 4, ("不动产登记费", 8000, "《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》"), 3),
    _t("不动产抵押登记", "行政确认", "real_estate", "city", IE,
       "房屋抵押|房产抵押登记|按揭登记", "id property raw:抵押合同", ESTATE_LAW, "housing", 3, None, 3),
    _t("不动产登记资料查询", "公共服务", "real_estate", "city", IE,
       "查房产|房产证明|查询名下房产|有房无房证明", "id", ESTATE_LAW, "housing", 5),
    _t("建设用地规划许可证核发", "行政许可", "natural_resources", "city", E,
       "用地规划许可|规划许可证", "business raw:国有土地使用权出让合同", "《中华人民共和国城乡规划法》", "", 1, None, 3),
    _t("农村村民宅基地审批", "行政许可", "agriculture", "county", I,
       "农村建房|宅基地申请|建房审批", "id hukou raw:农村宅基地和建房（规划许可）申请表", "《中华人民共和国土地管理法》", "", 2, None, 2),
    # ---- transport
    _t("网络预约出租汽车驾驶员证核发", "行政许可", "transport", "city", I,
       "网约车司机证|网约车证|滴滴司机证", "id driving photo raw:无犯罪记录证明", TAXI_LAW, "transport employment", 3, None, 3),
    _t("巡游出租汽车驾驶员从业资格注册", "行政许可", "transport", "city", I,
       "出租车司机证|的士司机资格", "id driving raw:从业资格证", TAXI_LAW, "transport", 2, None, 3),
    _t("道路运输从业人员从业资格证核发", "行政许可", "transport", "city", I,
       "货运资格证|货车从业资格证|客运资格证", "id driving photo", TRANSPORT_LAW, "transport", 3, None, 3),
    _t("道路货物运输经营许可", "行政许可", "transport", "county", E,
       "货运经营许可|道路运输许可证", "business raw:车辆行驶证 raw:驾驶员从业资格证", TRANSPORT_LAW, "", 2, None, 3),
    # ---- education
    _t("义务教育阶段新生入学登记", "公共服务", "education", "county", I,
       "小学入学|上小学|报名读书|学位申请|初中入学|幼升小", "id hukou birth_cert property", EDU_LAW, "education", 5, None, 3),
    _t("随迁子女积分入学申请", "公共服务", "education", "county", I,
       "积分入学|外来务工子女入学", "id residence contract", EDU_LAW, "education", 4, None, 3),
    _t("中小学教师资格认定", "行政许可", "education", "county", I,
       "教资认定|教师资格证|教师证", "id photo diploma medical_exam", "《中华人民共和国教师法》《教师资格条例》", "education employment", 3, None, 3),
    _t("家庭经济困难学生资助申请", "行政给付", "education", "county", I,
       "学生资助|助学金|贫困生补助", "id hukou income", "《学生资助资金管理办法》", "education", 3, None, 3),
    _t("民办学校设立审批", "行政许可", "education", "city", E,
       "办学许可|开培训学校", "raw:举办者资格证明 site raw:学校章程", "《中华人民共和国民办教育促进法》", "education", 1, None, 2),
    _t("普通高中学业水平考试成绩证明", "公共服务", "education", "province", I,
       "高中学考证明|学业水平考试证明", "id", "《广东省普通高中学业水平考试实施办法》", "education", 2),
    # ---- veterans
    _t("退役士兵自主就业一次性经济补助金给付", "行政给付", "veterans", "county", I,
       "退伍补助|退役一次性补助", "veteran id bank", VETERAN_LAW, "employment", 2, None, 3),
    _t("退役军人优待证申领", "公共服务", "veterans", "county", I,
       "优待证|军人优待证", "veteran id photo", VETERAN_LAW, "", 3),
    _t("义务兵家庭优待金给付", "行政给付", "veterans", "county", I,
       "优待金|义务兵优待", "id hukou raw:入伍通知书", "《军人抚恤优待条例》", "", 2),
    _t("伤残抚恤关系转移", "公共服务", "veterans", "city", I,
       "残疾军人抚恤转移|伤残证转移", "veteran id raw:残疾军人证", "《军人抚恤优待条例》", "disability", 1, None, 2),
    # ---- disabled persons
    _t("残疾人证办理", "公共服务", "disabled_persons", "county", I,
       "办残疾证|残疾证|残疾人证申请", "id hukou photo", DISABLED_LAW + "《中华人民共和国残疾人证管理办法》", "disability", 4, None, 2),
    _t("残疾人证换领", "公共服务", "disabled_persons", "county", I,
       "残疾证到期|换残疾证|残疾证补办", "disability id photo", DISABLED_LAW, "disability", 3, None, 3),
    _t("残疾人辅助器具适配补贴申请", "行政给付", "disabled_persons", "county", I,
       "轮椅申请|助听器补贴|辅具补贴", "disability id", DISABLED_LAW, "disability elderly", 2, None, 3),
    _t("残疾儿童康复救助申请", "行政给付", "disabled_persons", "county", I,
       "自闭症康复救助|儿童康复补贴", "id hukou raw:残疾诊断证明", DISABLED_LAW + "《残疾预防和残疾人康复条例》", "disability births", 2, None, 3),
    # ---- justice
    _t("法律援助申请", "公共服务", "justice", "county", I,
       "免费律师|请律师|法律援助", "id income raw:案件相关材料", "《中华人民共和国法律援助法》", "", 3, None, 3),
    _t("公证申办", "公共服务", "justice", "city", IE,
       "办公证|出生公证|亲属关系公证|学历公证", "id raw:需公证的文书", "《中华人民共和国公证法》", "", 3, ("公证费", 20000, "《广东省公证服务收费标准》"), 2),
    _t("律师执业许可", "行政许可", "justice", "province", I,
       "律师证|律师执业证", "id raw:法律职业资格证书 raw:律师协会实习考核合格材料", "《中华人民共和国律师法》", "", 1, None, 3),
    _t("港澳律师在粤港澳大湾区内地执业许可", "行政许可", "justice", "province", I,
       "港澳律师内地执业|大湾区律师执业", "hkmo_permit raw:港澳律师执业证明", "《香港法律执业者和澳门执业律师在粤港澳大湾区内地九市取得内地执业资质和从事律师职业试点办法》", "gba", 1, None, 3),
    # ---- culture and tourism
    _t("娱乐场所经营许可", "行政许可", "culture_tourism", "county", E,
       "开KTV|娱乐场所许可证", "business site raw:消防安全检查合格证明", "《娱乐场所管理条例》", "startup", 1, None, 3),
    _t("营业性演出许可", "行政许可", "culture_tourism", "county", E,
       "演出审批|演唱会审批", "business raw:演出合同 raw:节目及其视听资料", "《营业性演出管理条例》", "", 1, None, 3),
    _t("旅行社业务经营许可", "行政许可", "culture_tourism", "province", E,
       "开旅行社|旅行社许可证", "business raw:旅游服务质量保证金存单", "《旅行社条例》", "startup", 1, None, 3),
    _t("互联网上网服务营业场所经营许可", "行政许可", "culture_tourism", "county", E,
       "开网吧|网吧许可证", "business site", "《互联网上网服务营业场所管理条例》", "startup", 1, None, 3),
    # ---- ecology, emergency, agriculture, water, forestry
    _t("排污许可证核发", "行政许可", "ecology", "city", E,
       "排污许可|排污证", "business raw:排污许可证申请表 raw:自行监测方案", "《排污许可管理条例》", "", 2, None, 3),
    _t("建设项目环境影响报告表审批", "行政许可", "ecology", "city", E,
       "环评审批|环评批复", "business eia", "《中华人民共和国环境影响评价法》", "", 2, None, 3),
    _t("危险化学品经营许可", "行政许可", "emergency", "county", E,
       "危化品经营许可证|危险品经营许可", "business raw:安全评价报告", "《危险化学品安全管理条例》", "", 1, None, 3),
    _t("农药经营许可", "行政许可", "agriculture", "county", E,
       "农药经营许可证|卖农药许可", "business site", "《农药管理条例》", "", 1, None, 3),
    _t("动物防疫条件合格证核发", "行政许可", "agriculture", "county", E,
       "动物防疫合格证|养殖场防疫证", "business raw:场所平面图", "《中华人民共和国动物防疫法》", "", 1, None, 3),
    _t("取水许可", "行政许可", "water", "city", E,
       "取水证|用水许可", "business raw:建设项目水资源论证报告", "《取水许可和水资源费征收管理条例》", "", 1, None, 3),
    _t("林木采伐许可证核发", "行政许可", "forestry", "county", IE,
       "砍树审批|采伐证|林木采伐", "id raw:林权证明", "《中华人民共和国森林法》", "", 1, None, 3),
    _t("企业投资项目备案", "其他行政权力", "development_reform", "county", E,
       "项目备案|投资备案", "business raw:项目基本情况说明", "《企业投资项目核准和备案管理条例》", "", 2),
    _t("外国人来华工作许可", "行政许可", "science", "city", E,
       "外国人工作许可|外籍人员工作证|外国人工作签证", "business raw:外国人护照 diploma raw:无犯罪记录证明", "《中华人民共和国出境入境管理法》《外国人在中国就业管理规定》", "gba employment", 2, None, 3),
    _t("高新技术企业认定", "行政确认", "science", "province", E,
       "高企认定|高新企业申报", "business raw:知识产权证明 raw:研究开发费用专项审计报告", "《高新技术企业认定管理办法》", "", 2, None, 4),
    _t("公众聚集场所投入使用营业前消防安全检查", "行政许可", "fire_rescue", "city", E,
       "消防检查|消防安检|开业消防检查", "business raw:消防安全制度 site", "《中华人民共和国消防法》", "startup", 2, None, 3),
)

ZONES: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    # slug, title, icon, description, audiences
    ("elderly", "长者服务专区", "zone-elderly", "高龄津贴、优待证、养老金等长者常办事项，大字版一站办理", ("individual",)),
    ("gba", "大湾区专区", "zone-gba", "港澳通行证签注、港车北上、港澳居民在粤就业创业服务", ("individual", "enterprise")),
    ("births", "生育服务专区", "zone-births", "从婚检、生育登记到出生证、入户、参保的生育全程服务", ("individual",)),
    ("employment", "就业创业专区", "zone-employment", "就业失业登记、失业金、技能认定和创业扶持", ("individual", "enterprise")),
    ("startup", "企业开办专区", "zone-startup", "营业执照、刻章、发票、社保和公积金开户一网通办", ("enterprise", "individual")),
    ("education", "教育入学专区", "zone-education", "义务教育入学、积分入学、教师资格与学生资助", ("individual",)),
    ("social", "社保医保专区", "zone-social", "社保卡、参保缴费、异地就医和医保报销", ("individual",)),
    ("housing", "住房安居专区", "zone-housing", "公积金提取与贷款、公租房和不动产登记", ("individual", "enterprise")),
    ("transport", "交通出行专区", "zone-transport", "驾驶证、机动车业务、违法处理和网约车证", ("individual",)),
    ("disability", "助残服务专区", "zone-disability", "残疾人证、两项补贴、辅助器具和康复救助", ("individual",)),
)

# 一件事 bundles: slug, title, description, audiences, template names in flow order.
BUNDLES: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("newborn", "新生儿出生一件事", "一次申请，办结出生医学证明、户口登记、医保参保、社保卡申领和预防接种证",
     ("individual",),
     ("出生医学证明办理", "出生登记（新生儿入户）", "城乡居民基本医疗保险参保登记", "社会保障卡申领", "预防接种证办理")),
    ("enterprise-startup", "企业开办一件事", "一表填报，一次办结营业执照、刻章、发票、社保和公积金开户",
     ("enterprise",),
     ("企业设立登记", "印章刻制备案", "纳税人信息确认（新办纳税人）", "发票领用", "单位社会保险登记", "住房公积金单位缴存登记")),
    ("retirement", "退休一件事", "养老金申领、退休医保待遇和公积金退休提取联办",
     ("individual",),
     ("基本养老保险待遇申领", "职工退休人员医疗保险待遇核定", "住房公积金提取（退休）")),
    ("after-death", "身后一件事", "死亡证明、户口注销、丧葬补助和殡葬费用减免一次办",
     ("individual",),
     ("居民死亡医学证明（推断）书办理", "死亡注销户口", "丧葬补助金和抚恤金申领", "基本殡葬服务费用减免")),
    ("disability", "残疾人服务一件事", "残疾人证、两项补贴和辅助器具适配一次申请",
     ("individual",),
     ("残疾人证办理", "困难残疾人生活补贴和重度残疾人护理补贴申领", "残疾人辅助器具适配补贴申请")),
    ("restaurant", "开餐馆一件事", "个体户登记、食品经营许可和开业消防检查联办",
     ("enterprise", "individual"),
     ("个体工商户设立登记", "食品经营许可", "公众聚集场所投入使用营业前消防安全检查")),
    ("home-transfer", "二手房转移登记一件事", "契税申报与不动产转移登记一窗受理",
     ("individual", "enterprise"),
     ("契税申报", "不动产转移登记")),
)

# Extra situations (办理情形) used only to reach benchmark scale.
SITUATIONS = (
    "本人现场办理", "委托他人办理", "全程网上办理", "港澳居民办理", "外籍人员办理", "跨市通办",
    "加急办理", "邮寄送达", "容缺受理", "预约办理",
)
