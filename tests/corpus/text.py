"""Pools of realistic Chinese official-document text and small random generators.

Every generator takes a `random.Random` so that a corpus is a pure function of its seed.
The pools are deliberately broad (many organ levels and kinds, many subjects and sentence
shapes) because the scanner is also measured on documents we never see.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

# --- regions -----------------------------------------------------------------------------

# (name, one-character abbreviation used in 机关代字)
PROVINCES: tuple[tuple[str, str], ...] = (
    ("吉林省", "吉"),
    ("北京市", "京"),
    ("湖南省", "湘"),
    ("广东省", "粤"),
    ("浙江省", "浙"),
    ("江苏省", "苏"),
    ("四川省", "川"),
    ("河南省", "豫"),
    ("山东省", "鲁"),
    ("湖北省", "鄂"),
    ("河北省", "冀"),
    ("辽宁省", "辽"),
    ("黑龙江省", "黑"),
    ("安徽省", "皖"),
    ("福建省", "闽"),
    ("江西省", "赣"),
    ("山西省", "晋"),
    ("陕西省", "陕"),
    ("甘肃省", "甘"),
    ("云南省", "云"),
    ("贵州省", "黔"),
    ("海南省", "琼"),
    ("上海市", "沪"),
    ("天津市", "津"),
    ("重庆市", "渝"),
    ("广西壮族自治区", "桂"),
    ("内蒙古自治区", "内"),
    ("宁夏回族自治区", "宁"),
)

CITIES: tuple[tuple[str, str], ...] = (
    ("长春市", "长"),
    ("吉林市", "吉市"),
    ("四平市", "四"),
    ("延边朝鲜族自治州", "延州"),
    ("长沙市", "长"),
    ("株洲市", "株"),
    ("岳阳市", "岳"),
    ("广州市", "穗"),
    ("深圳市", "深"),
    ("杭州市", "杭"),
    ("宁波市", "甬"),
    ("南京市", "宁"),
    ("苏州市", "苏"),
    ("成都市", "成"),
    ("绵阳市", "绵"),
    ("郑州市", "郑"),
    ("洛阳市", "洛"),
    ("济南市", "济"),
    ("青岛市", "青"),
    ("武汉市", "武"),
    ("宜昌市", "宜"),
    ("石家庄市", "石"),
    ("沈阳市", "沈"),
    ("大连市", "大"),
    ("哈尔滨市", "哈"),
    ("合肥市", "合"),
    ("福州市", "榕"),
    ("厦门市", "厦"),
    ("南昌市", "洪"),
    ("太原市", "并"),
    ("西安市", "市"),
    ("兰州市", "兰"),
    ("昆明市", "昆"),
    ("贵阳市", "筑"),
    ("海口市", "海"),
    ("南宁市", "南"),
    ("包头市", "包"),
    ("银川市", "银"),
    ("赣州市", "赣市"),
)

COUNTIES: tuple[tuple[str, str], ...] = (
    ("东丰县", "东"),
    ("梨树县", "梨"),
    ("宁乡市", "宁"),
    ("浏阳市", "浏"),
    ("桐庐县", "桐"),
    ("德清县", "德"),
    ("昆山市", "昆"),
    ("江阴市", "澄"),
    ("双流区", "双"),
    ("新津区", "新"),
    ("巩义市", "巩"),
    ("平度市", "平"),
    ("蔡甸区", "蔡"),
    ("正定县", "正"),
    ("新民市", "新"),
    ("五常市", "五"),
    ("肥西县", "肥"),
    ("闽侯县", "侯"),
    ("进贤县", "进"),
    ("清徐县", "清"),
    ("榆中县", "榆"),
    ("富民县", "富"),
    ("修文县", "修"),
    ("澄迈县", "澄"),
    ("南关区", "南"),
    ("朝阳区", "朝"),
    ("宽城区", "宽"),
    ("雨花区", "雨"),
    ("龙湾区", "龙"),
    ("西湖区", "西"),
)

TOWNS: tuple[str, ...] = (
    "城关镇",
    "红旗街道",
    "新华街道",
    "东湖街道",
    "永安镇",
    "太平镇",
    "向阳街道",
    "和平街道",
    "青山乡",
    "柳河镇",
    "长安街道",
    "兴隆镇",
)


# --- organs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Organ:
    """An issuing organ (发文机关) and what it prints."""

    name: str
    """Full name, as signed at the end: 吉林省人民政府办公厅."""
    mark_name: str
    """Name in the organ mark, sometimes shortened: 中共吉林省委."""
    code: str
    """机关代字 for ordinary documents: 吉政办发."""
    letter_code: str
    """机关代字 for letters (函): 吉政办函."""
    office: str
    """The office that prints and distributes (印发): 吉林省人民政府办公厅."""
    addressees: str
    """主送机关 for downward documents, ending with a colon."""
    superior: str
    """The organ one level up, for 上行文 (报告/请示)."""
    region: str
    kind: str
    """gov | gov_office | party | party_office | bureau | police | court | procuratorate |
    company | university | central"""


# (suffix after region, code template, letter template, kind). {a} = region abbreviation.
_PROVINCE_ORGANS: tuple[tuple[str, str, str, str], ...] = (
    ("人民政府", "{a}政发", "{a}政函", "gov"),
    ("人民政府办公厅", "{a}政办发", "{a}政办函", "gov_office"),
    ("公安厅", "{a}公发", "{a}公函", "police"),
    ("公安厅", "{a}公通字", "{a}公函", "police"),
    ("卫生健康委员会", "{a}卫发", "{a}卫函", "bureau"),
    ("教育厅", "{a}教发", "{a}教函", "bureau"),
    ("财政厅", "{a}财预", "{a}财函", "bureau"),
    ("人力资源和社会保障厅", "{a}人社发", "{a}人社函", "bureau"),
    ("应急管理厅", "{a}应急发", "{a}应急函", "bureau"),
    ("生态环境厅", "{a}环发", "{a}环函", "bureau"),
    ("市场监督管理局", "{a}市监发", "{a}市监函", "bureau"),
    ("住房和城乡建设厅", "{a}建发", "{a}建函", "bureau"),
    ("自然资源厅", "{a}自然资发", "{a}自然资函", "bureau"),
    ("交通运输厅", "{a}交发", "{a}交函", "bureau"),
    ("高级人民法院", "{a}高法发", "{a}高法函", "court"),
    ("人民检察院", "{a}检发", "{a}检函", "procuratorate"),
    ("司法厅", "{a}司发", "{a}司函", "bureau"),
    ("信访局", "{a}信发", "{a}信函", "bureau"),
)

_CITY_ORGANS: tuple[tuple[str, str, str, str], ...] = (
    ("人民政府", "{a}府发", "{a}府函", "gov"),
    ("人民政府办公室", "{a}府办发", "{a}府办函", "gov_office"),
    ("公安局", "{a}公发", "{a}公函", "police"),
    ("卫生健康委员会", "{a}卫发", "{a}卫函", "bureau"),
    ("教育局", "{a}教发", "{a}教函", "bureau"),
    ("应急管理局", "{a}应急发", "{a}应急函", "bureau"),
    ("城市管理局", "{a}城管发", "{a}城管函", "bureau"),
    ("发展和改革委员会", "{a}发改发", "{a}发改函", "bureau"),
    ("中级人民法院", "{a}中法发", "{a}中法函", "court"),
    ("信访局", "{a}信发", "{a}信函", "bureau"),
    ("市场监督管理局", "{a}市监发", "{a}市监函", "bureau"),
)

_COUNTY_ORGANS: tuple[tuple[str, str, str, str], ...] = (
    ("人民政府", "{a}政发", "{a}政函", "gov"),
    ("人民政府办公室", "{a}政办发", "{a}政办函", "gov_office"),
    ("公安局", "{a}公发", "{a}公函", "police"),
    ("人民法院", "{a}法发", "{a}法函", "court"),
    ("卫生健康局", "{a}卫健发", "{a}卫健函", "bureau"),
    ("教育局", "{a}教发", "{a}教函", "bureau"),
    ("司法局", "{a}司发", "{a}司函", "bureau"),
    ("信访局", "{a}信发", "{a}信函", "bureau"),
)

_CENTRAL_ORGANS: tuple[tuple[str, str, str, str], ...] = (
    ("国务院", "国发", "国函", "central"),
    ("国务院办公厅", "国办发", "国办函", "central"),
    ("中共中央办公厅", "中办发", "中办函", "central"),
    ("公安部", "公通字", "公函", "central"),
    ("教育部", "教发", "教函", "central"),
    ("国家卫生健康委员会", "国卫办发", "国卫办函", "central"),
    ("人力资源社会保障部", "人社部发", "人社厅函", "central"),
    ("应急管理部", "应急", "应急厅函", "central"),
    ("最高人民法院", "法发", "法函", "central"),
)

_COMPANIES: tuple[tuple[str, str], ...] = (
    ("交通投资集团有限公司", "交投"),
    ("能源投资集团有限公司", "能投"),
    ("电力有限公司", "电"),
    ("城市建设投资集团有限公司", "城投"),
    ("水务集团有限公司", "水务"),
    ("农村商业银行股份有限公司", "农商行"),
    ("高速公路集团有限公司", "高速"),
    ("国有资本运营有限公司", "国资运营"),
)

_UNIVERSITIES: tuple[tuple[str, str], ...] = (
    ("吉林大学", "吉大"),
    ("湖南师范大学", "湘师大"),
    ("浙江工业大学", "浙工大"),
    ("四川农业大学", "川农大"),
    ("郑州大学", "郑大"),
    ("山东科技大学", "山科大"),
    ("长春理工大学", "长理工"),
    ("南昌航空大学", "昌航"),
    ("西北师范大学", "西北师大"),
)

_ADDRESSEES: dict[str, tuple[str, ...]] = {
    "province": (
        "各市（州）人民政府，长白山管委会，梅河口市人民政府，省政府各厅委办、各直属机构：",
        "各市人民政府，省政府各部门、各直属机构：",
        "各设区市、县（市、区）人民政府，省级有关部门：",
    ),
    "city": (
        "各县（市、区）人民政府，各开发区管委会，市政府各委办局、各直属机构：",
        "各区人民政府，市政府各部门：",
    ),
    "county": (
        "各乡（镇）人民政府、街道办事处，县政府各部门：",
        "各乡镇、街道，县直各单位：",
    ),
    "police": ("各市（州）公安局，厅机关各部门：", "各分局、各派出所，局机关各部门："),
    "court": ("全省各级人民法院：", "各基层人民法院，院机关各部门："),
    "party": ("各市（州）委，省委各部委，省直各单位党组（党委）：", "各乡镇党委，县直各单位："),
    "company": ("各分公司、子公司，集团公司各部门：", "各所属单位，公司本部各部门："),
    "university": ("各学院（部），机关各部门，各直属单位：", "校内各单位："),
    "central": (
        "各省、自治区、直辖市人民政府，国务院各部委、各直属机构：",
        "各省、自治区、直辖市和新疆生产建设兵团有关部门：",
    ),
}


def _addressee(rng: random.Random, level: str, kind: str) -> str:
    key = kind if kind in _ADDRESSEES else level
    return rng.choice(_ADDRESSEES[key])


def _regional_organ(rng: random.Random) -> Organ:
    level = rng.choices(("province", "city", "county"), weights=(4, 4, 3))[0]
    if level == "province":
        region, abbr = rng.choice(PROVINCES)
        templates, office_suffix, superior = _PROVINCE_ORGANS, "人民政府办公厅", "国务院"
    elif level == "city":
        region, abbr = rng.choice(CITIES)
        templates, office_suffix = _CITY_ORGANS, "人民政府办公室"
        superior = rng.choice(PROVINCES)[0] + "人民政府"
    else:
        region, abbr = rng.choice(COUNTIES)
        templates, office_suffix = _COUNTY_ORGANS, "人民政府办公室"
        superior = rng.choice(CITIES)[0] + "人民政府"
    suffix, code, letter, kind = rng.choice(templates)
    name = region + suffix
    office = region + office_suffix if kind in ("gov", "gov_office") else name + "办公室"
    if kind == "court":
        office = name + "办公室"
    return Organ(
        name=name,
        mark_name=name,
        code=code.format(a=abbr),
        letter_code=letter.format(a=abbr),
        office=office,
        addressees=_addressee(rng, level, kind),
        superior=superior,
        region=region,
        kind=kind,
    )


def _party_organ(rng: random.Random) -> Organ:
    level = rng.choice(("province", "city", "county"))
    pool = {"province": PROVINCES, "city": CITIES, "county": COUNTIES}[level]
    region, abbr = rng.choice(pool)
    office = rng.random() < 0.4
    office_word = "办公厅" if level == "province" else "办公室"
    short = f"中共{region}委" + (office_word if office else "")
    full = f"中共{region}委员会" + (office_word if office else "")
    return Organ(
        name=full,
        mark_name=rng.choice((short, full)) if not office else short,
        code=abbr + ("办发" if office else "发"),
        letter_code=abbr + ("办函" if office else "委函"),
        office=f"中共{region}委{office_word}",
        addressees=_addressee(rng, level, "party"),
        superior=f"中共{rng.choice(PROVINCES)[0]}委" if level != "province" else "党中央",
        region=region,
        kind="party_office" if office else "party",
    )


def _central_organ(rng: random.Random) -> Organ:
    name, code, letter, _ = rng.choice(_CENTRAL_ORGANS)
    return Organ(
        name=name,
        mark_name=name,
        code=code,
        letter_code=letter,
        office=name if "办公厅" in name else name + "办公厅",
        addressees=_addressee(rng, "central", "central"),
        superior="国务院" if name != "国务院" else "党中央",
        region="全国",
        kind="central",
    )


def _company_organ(rng: random.Random) -> Organ:
    region, abbr = rng.choice(PROVINCES)
    suffix, short = rng.choice(_COMPANIES)
    name = region + suffix
    return Organ(
        name=name,
        mark_name=name,
        code=f"{abbr}{short}" + rng.choice(("发", "字", "办发")),
        letter_code=f"{abbr}{short}函",
        office=name + rng.choice(("办公室", "综合管理部", "党委办公室")),
        addressees=_addressee(rng, "province", "company"),
        superior=f"{region}人民政府国有资产监督管理委员会",
        region=region,
        kind="company",
    )


def _university_organ(rng: random.Random) -> Organ:
    name, short = rng.choice(_UNIVERSITIES)
    return Organ(
        name=name,
        mark_name=name,
        code=short + rng.choice(("发", "校发", "办发")),
        letter_code=short + "函",
        office=name + rng.choice(("党政办公室", "校长办公室")),
        addressees=_addressee(rng, "province", "university"),
        superior=rng.choice(PROVINCES)[0].removesuffix("省") + "省教育厅",
        region=name,
        kind="university",
    )


def organ(rng: random.Random) -> Organ:
    """A random issuing organ: governments, party committees, bureaus, police, courts,
    central organs, state companies and universities, weighted roughly by how often their
    documents circulate in local work groups."""
    makers = (_regional_organ, _party_organ, _central_organ, _company_organ, _university_organ)
    return rng.choices(makers, weights=(10, 4, 1.5, 1.5, 1.2))[0](rng)


# --- document numbers, titles ------------------------------------------------------------


def year(rng: random.Random) -> int:
    return rng.choice((2019, 2020, 2021, 2022, 2023, 2023, 2024, 2024, 2024, 2025))


def doc_number(rng: random.Random, code: str, yr: int) -> str:
    """发文字号 as GB/T 9704 prints it: 吉政办发〔2024〕15号 (no leading zeros)."""
    n = rng.choice((rng.randint(1, 30), rng.randint(1, 200)))
    return f"{code}〔{yr}〕{n}号"


SUBJECTS: tuple[str, ...] = (
    "做好{y}年春节期间安全生产工作",
    "进一步加强城镇燃气安全管理",
    "开展汛期安全隐患排查整治",
    "做好{y}年防汛抗旱工作",
    "加强森林草原防灭火工作",
    "开展安全生产大检查",
    "做好重大活动期间信访维稳工作",
    "做好冬季供暖保障工作",
    "开展城乡环境综合整治",
    "加强食品安全监督管理",
    "做好校园及周边安全管理",
    "加强道路交通安全管理",
    "严格落实耕地保护制度",
    "做好农民工工资支付保障工作",
    "开展电信网络诈骗防范宣传",
    "做好{y}年度高校毕业生就业创业工作",
    "进一步规范政务信息报送",
    "加强医疗保障基金监管",
    "开展矛盾纠纷排查化解专项行动",
    "开展消防安全隐患集中排查",
    "做好汛期地质灾害防范",
    "调整{o}安全生产委员会成员",
    "表彰{y}年度先进集体和先进个人",
    "开展重点人员走访排查",
    "加强节假日值班值守",
    "做好重要时间节点安保维稳工作",
    "开展扫黑除恶常态化工作",
    "推进基层治理体系建设",
    "落实生态环境保护督察反馈问题整改",
    "开展危险化学品专项整治",
    "做好第五次全国经济普查工作",
    "规范领导干部外出报备",
    "加强涉密人员管理",
    "做好重大突发事件信息报送",
    "开展网络安全检查",
    "做好{y}年度干部考核工作",
)

PLANS: tuple[str, ...] = (
    "{o}优化营商环境若干措施",
    "{o}安全生产治本攻坚三年行动实施方案",
    "{o}突发事件应急预案",
    "{o}{y}年度重点工作任务分工方案",
    "{o}信访工作责任制实施细则",
    "{o}城市更新行动方案",
    "{o}重点人员排查管控工作方案",
    "{o}值班工作管理办法",
)

DOWNWARD_GENRES = ("通知", "通知", "通知", "通报", "意见", "决定", "实施意见", "批复")
UPWARD_GENRES = ("报告", "请示", "情况报告")


def _fill(text: str, rng: random.Random, org: Organ) -> str:
    short = org.region if org.region != "全国" else "全国"
    return text.format(y=year(rng), o=short)


def title(rng: random.Random, org: Organ, genre: str | None = None) -> str:
    """关于…的通知/通报/意见/报告/函, or 关于印发《…》的通知."""
    genre = genre or rng.choice(DOWNWARD_GENRES)
    if genre == "通知" and rng.random() < 0.25:
        return f"关于印发《{_fill(rng.choice(PLANS), rng, org)}》的通知"
    prefix = org.name if rng.random() < 0.2 else ""
    return f"{prefix}关于{_fill(rng.choice(SUBJECTS), rng, org)}的{genre}"


# --- body text ---------------------------------------------------------------------------

OPENINGS: tuple[str, ...] = (
    "为深入贯彻落实党中央、国务院决策部署，切实{s}，经{o}同意，现就有关事项通知如下：",
    "为进一步{s}，根据有关法律法规和上级文件要求，结合我{l}实际，现提出如下意见：",
    "近期，全{l}{s}工作总体平稳有序，但仍存在一些薄弱环节。为切实抓好各项工作落实，"
    "现将有关事项通知如下：",
    "按照{o}工作部署，{y}年以来，我们认真组织开展{s}各项工作，现将有关情况报告如下：",
    "根据《{o}工作要点》安排，经研究决定，在全{l}范围内{s}。现就有关事项通知如下：",
    "{d}，{o}召开专题会议，研究部署{s}工作。现将会议议定事项通报如下：",
)

HEADINGS: tuple[str, ...] = (
    "提高思想认识，切实加强组织领导",
    "突出工作重点，扎实推进各项任务",
    "强化责任落实，确保工作取得实效",
    "加强排查整治，坚决消除风险隐患",
    "严格值班值守，及时报送重要信息",
    "加强督促检查，严肃追责问责",
    "加强宣传引导，营造良好氛围",
    "健全工作机制，形成工作合力",
    "聚焦突出问题，精准施策",
    "严守纪律规矩，做好保密工作",
    "主要工作开展情况",
    "存在的主要问题",
    "下一步工作打算",
)

SENTENCES: tuple[str, ...] = (
    "各地各部门要充分认识做好此项工作的重要性和紧迫性，把思想和行动统一到上级决策部署上来。",
    "主要负责同志要亲自研究、亲自部署，分管负责同志要靠前指挥、具体抓好落实。",
    "要建立健全工作台账，明确责任单位、责任人和完成时限，确保各项任务落到实处。",
    "对排查发现的问题隐患，要逐项制定整改措施，实行销号管理，做到整改不到位不放过。",
    "要严格落实24小时值班和领导带班制度，保持通信畅通，遇有突发情况第一时间报告。",
    "各单位要于{d}前将工作开展情况报送{o}，联系人：{n}，联系电话：0431-8{p}。",
    "对工作不力、推诿扯皮、造成严重后果的，要依规依纪依法严肃追究有关人员责任。",
    "要加强部门协作配合，建立信息共享和联动处置机制，形成齐抓共管的工作格局。",
    "截至{d}，全{l}共排查各类隐患{k}处，已整改{m}处，整改率达到{r}%。",
    "要充分利用报刊、广播、电视和新媒体平台，广泛宣传相关政策措施，回应社会关切。",
    "各级财政部门要统筹安排资金，为相关工作开展提供必要保障。",
    "要坚持问题导向和目标导向，聚焦群众反映强烈的突出问题，集中力量攻坚突破。",
    "对重点人员要逐一落实稳控责任，做到底数清、情况明、措施实。",
    "要严格执行请示报告制度，重大事项及时向{o}请示报告。",
    "会议指出，当前正处于{s}的关键时期，必须保持清醒头脑，坚决克服麻痹思想和侥幸心理。",
    "会议要求，各责任单位要对照任务清单，倒排工期、挂图作战，确保按期完成目标任务。",
    "全{l}共组织开展专项检查{k}次，出动检查人员{m}人次，检查生产经营单位{r}家。",
    "部分地方和单位思想认识不到位，工作落实存在上热中温下冷现象。",
    "基层工作力量相对薄弱，专业人员不足，监管能力与实际需要还有一定差距。",
    "下一步，我们将持续加大工作力度，不断完善长效机制，推动各项工作取得新成效。",
    "要严格遵守保密纪律，涉及工作秘密的文件资料不得通过互联网和微信等渠道传递。",
    "本通知自印发之日起施行，此前有关规定与本通知不一致的，以本通知为准。",
    "各地在执行过程中遇到的问题，请及时向{o}反馈。",
    "要统筹做好疫情防控和经济社会发展工作，切实保障人民群众生命财产安全。",
    "经研究，同意你单位关于调整有关工作安排的意见，请按照有关规定抓好组织实施。",
    "各级领导干部要带头深入基层、深入一线，及时协调解决工作中遇到的困难和问题。",
    "对群众来信来访反映的问题，要依法及时就地解决，防止矛盾上行和激化。",
    "要加强对重点领域、重点部位、重点时段的巡查检查，做到全覆盖、无死角。",
    "{y}年共受理各类案件{k}件，办结{m}件，办结率{r}%，同比上升{q}个百分点。",
    "要加强业务培训，提高工作人员政策水平和业务能力，确保工作规范有序开展。",
    "请各单位高度重视，认真组织学习，结合实际抓好贯彻落实。",
    "有关工作经费按照现行渠道解决，确保专款专用。",
    "对发现的违法违规行为，要依法依规从严从重查处，形成有力震慑。",
    "请于每月{q}日前报送上月工作进展情况，重要情况随时报告。",
    "现将有关情况通报如下，请各单位引以为戒，举一反三，切实抓好整改。",
)

CLOSINGS_DOWN = ("特此通知。", "请遵照执行。", "请认真贯彻执行。", "特此通报。", "")
CLOSINGS_UP = ("特此报告。", "以上报告，请审阅。", "妥否，请批示。", "当否，请批示。")
CLOSINGS_LETTER = ("特此函告。", "专此函达。", "请予支持为盼。", "特此函复。")

SECTION_NUMERALS = "一二三四五六七八"


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of body text. `kind`: body | h1 (一、…) | h2 (（一）…)."""

    kind: str
    text: str


def _sentence(rng: random.Random, template: str, org: Organ, subject: str) -> str:
    level = {"province": "省", "city": "市", "county": "县"}.get(_level_of(org), "省")
    k = rng.randint(12, 980)
    return template.format(
        s=subject,
        o=rng.choice((org.name, org.office, org.superior)),
        l=level,
        y=year(rng),
        d=_month_day(date(rng)),
        n=person_name(rng),
        p=f"{rng.randint(0, 9999999):07d}",
        k=k,
        m=rng.randint(1, k),
        r=rng.randint(60, 99),
        q=rng.randint(1, 9),
    )


def _month_day(d: dt.date) -> str:
    return f"{d.month}月{d.day}日"


def _level_of(org: Organ) -> str:
    for level, pool in (("province", PROVINCES), ("city", CITIES), ("county", COUNTIES)):
        if any(org.region == name for name, _ in pool):
            return level
    return "province"


def subject_phrase(rng: random.Random, org: Organ) -> str:
    return _fill(rng.choice(SUBJECTS), rng, org)


def body(
    rng: random.Random, org: Organ, *, paragraphs: int, upward: bool = False, letter: bool = False
) -> list[Paragraph]:
    """Body paragraphs: an opening, numbered sections (一、/（一）) of random sentences, and a
    closing formula that fits the genre."""
    subject = subject_phrase(rng, org)
    out = [Paragraph("body", _sentence(rng, rng.choice(OPENINGS), org, subject))]
    headings = rng.sample(HEADINGS, k=min(len(HEADINGS), max(1, paragraphs // 2)))
    with_h2 = rng.random() < 0.35
    # A shuffled deck, so that no sentence repeats within one document.
    deck = rng.sample(SENTENCES, k=len(SENTENCES))
    for i, heading in enumerate(headings):
        out.append(Paragraph("h1", f"{SECTION_NUMERALS[i]}、{heading}"))
        for j in range(rng.randint(1, 2)):
            picked = [deck.pop() for _ in range(min(len(deck) - 1, rng.randint(1, 3)))]
            text = "".join(_sentence(rng, t, org, subject) for t in picked)
            if with_h2:
                text = f"（{SECTION_NUMERALS[j]}）{rng.choice(HEADINGS)}。" + text
            out.append(Paragraph("body", text))
    closings = CLOSINGS_UP if upward else CLOSINGS_LETTER if letter else CLOSINGS_DOWN
    closing = rng.choice(closings)
    if closing:
        out.append(Paragraph("body", closing))
    return out


def prose_sentences(rng: random.Random, count: int, org: Organ | None = None) -> str:
    """Running official-style prose without structure (for body-only pages and TXT)."""
    org = org or organ(rng)
    subject = subject_phrase(rng, org)
    picked = rng.sample(SENTENCES, k=min(count, len(SENTENCES)))
    return "".join(_sentence(rng, t, org, subject) for t in picked)


# --- markings ----------------------------------------------------------------------------

CLASSIFICATION_LEVELS = ("绝密", "机密", "秘密")
PERIODS = ("1年", "2年", "3年", "5年", "10年", "20年", "6个月", "长期", "启用前", "会议结束前")


def classification(rng: random.Random) -> str:
    """密级和保密期限: 机密★1年, 秘密★6个月, 绝密★长期, 绝密★启用前; sometimes the bare level."""
    level = rng.choices(CLASSIFICATION_LEVELS, weights=(1, 3, 4))[0]
    if rng.random() < 0.12:
        return level
    return f"{level}★{rng.choice(PERIODS)}"


HANDLING = (
    "内部",
    "内部，注意保存",
    "内部资料",
    "注意保存",
    "工作秘密",
    "警务工作秘密",
    "不得外传",
    "内部文件",
    "内部资料 注意保存",
    "审判工作秘密",
    "内部 严禁外传",
    "仅供内部参考",
)
DRAFTS = ("讨论稿", "征求意见稿", "送审稿")
URGENCY = ("特急", "加急")


def handling(rng: random.Random, org: Organ | None = None) -> str:
    if org is not None and org.kind == "police" and rng.random() < 0.5:
        return "警务工作秘密"
    if org is not None and org.kind == "court" and rng.random() < 0.5:
        return "审判工作秘密"
    return rng.choice(HANDLING)


def copy_number(rng: random.Random) -> str:
    return f"{rng.randint(1, 999):06d}"


# --- people, dates, numbers --------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡"
    "贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强海燕玉兰红梅春生德明"
    "晓东文博子涵浩然雨桐思远宇航佳怡欣然俊杰嘉豪梓萱一诺国庆爱民树林凤英永红振华立新"
)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def date(rng: random.Random, yr: int | None = None) -> dt.date:
    start = dt.date(yr or year(rng), 1, 1)
    return start + dt.timedelta(days=rng.randint(0, 364))


_CN_DIGITS = "〇一二三四五六七八九"


def cn_number(n: int) -> str:
    """1..31 in Chinese numerals: 十, 十一, 二十一, 三十一."""
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def date_text(rng: random.Random, d: dt.date, *, arabic: bool | None = None) -> str:
    """2024年3月1日 (GB/T 9704-2012) or 二〇二四年三月一日 (older documents)."""
    if arabic is None:
        arabic = rng.random() < 0.6
    if arabic:
        return f"{d.year}年{d.month}月{d.day}日"
    yr = "".join(_CN_DIGITS[int(c)] for c in str(d.year))
    return f"{yr}年{cn_number(d.month)}月{cn_number(d.day)}日"


ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
ID_REGIONS = (
    "220102",
    "220104",
    "220381",
    "220581",
    "110101",
    "110105",
    "430102",
    "430181",
    "440106",
    "330106",
    "320102",
    "510104",
    "410102",
    "370102",
    "420102",
    "130102",
    "210102",
    "230102",
    "340102",
    "350102",
    "360102",
    "140105",
    "610102",
    "620102",
    "530102",
    "520102",
    "460105",
    "310101",
    "120101",
    "500101",
    "222401",
    "220122",
)


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def id_valid(number: str) -> bool:
    return len(number) == 18 and number[:17].isdigit() and id_check_char(number[:17]) == number[17]


def id_number(rng: random.Random) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 56))
    first17 = f"{rng.choice(ID_REGIONS)}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return first17 + id_check_char(first17)


MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "170",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "195",
    "198",
    "199",
]


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"


ROADS = ("人民大街", "解放路", "建设街", "和平路", "中山路", "长江路", "新华街", "光明路", "胜利街")
COMPLEXES = ("幸福小区", "阳光花园", "锦绣家园", "翠湖苑", "金色家园", "和谐社区", "滨江花园")


def address(rng: random.Random) -> str:
    city = rng.choice(CITIES)[0]
    return (
        f"{city}{rng.choice(COUNTIES)[0]}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
        f"{rng.choice(COMPLEXES)}{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元"
        f"{rng.randint(101, 2802)}室"
    )


def person_rows(rng: random.Random, count: int) -> list[list[str]]:
    """Rows of 序号/姓名/身份证号/联系电话/住址 for 排查名单."""
    return [
        [str(i + 1), person_name(rng), id_number(rng), mobile(rng), address(rng)]
        for i in range(count)
    ]


LIST_TITLES = (
    "{t}重点人员排查名单",
    "{t}矛盾纠纷排查化解台账",
    "{t}涉访人员信息登记表",
    "{t}维稳专班人员名录",
    "{t}困难群众走访慰问名单",
    "{t}返乡人员摸底排查登记表",
    "{t}居家隔离人员花名册",
    "{t}低保对象复核名单",
)


def list_title(rng: random.Random) -> str:
    return rng.choice(LIST_TITLES).format(t=rng.choice((*TOWNS, rng.choice(COUNTIES)[0], "")))


# --- colophon, telegram ------------------------------------------------------------------


def cc_line(rng: random.Random, org: Organ) -> str:
    pool = (
        "省委各部门，省人大常委会办公厅，省政协办公厅，省法院，省检察院",
        "市委办公室，市人大常委会办公室，市政协办公室",
        "县委各部门，县人大常委会办公室，县政协办公室，县法院，县检察院",
        "各民主党派，各人民团体",
        f"{org.superior}",
    )
    return "抄送：" + "，".join(rng.sample(pool, k=rng.randint(1, 2))) + "。"


def signer(rng: random.Random) -> str:
    return person_name(rng)
