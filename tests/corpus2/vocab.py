"""Words of the second page model: invented places and organs, people, subjects, sentences.

Kept apart from `tests/corpus/text.py` on purpose: other place names (mostly invented, as a
held-out corpus should not share the first model's vocabulary), other organ kinds, other
sentence shapes. Every function takes a `random.Random`, so a page is a function of its seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# (place, abbreviation used in 机关代字); invented county-level and city-level names.
CITIES: tuple[tuple[str, str], ...] = (
    ("江湾市", "湾"),
    ("临澜市", "澜"),
    ("北岑市", "岑"),
    ("云峤市", "峤"),
    ("清渚市", "渚"),
    ("梧川市", "梧"),
    ("汀州市", "汀"),
    ("南屏市", "屏"),
    ("泽阳市", "泽"),
    ("石垣市", "垣"),
)
COUNTIES: tuple[tuple[str, str], ...] = (
    ("青溪县", "青"),
    ("柳塘县", "柳"),
    ("白沙县", "沙"),
    ("望亭区", "望"),
    ("松岗区", "松"),
    ("凤鸣县", "凤"),
    ("安澜县", "安"),
    ("栖霞湾区", "栖"),
)


@dataclass(frozen=True)
class Organ:
    """An issuing organ: its full name, the 机关代字 of its numbers, its office, its superior."""

    name: str
    code: str
    office: str
    superior: str
    party: bool = False
    place: str = ""


def organ(r: random.Random) -> Organ:
    place, abbr = r.choice(CITIES if r.random() < 0.6 else COUNTIES)
    level = "市" if place.endswith("市") else "县" if place.endswith("县") else "区"
    kind = r.choice(("gov", "gov", "party", "dept", "dept", "court", "police"))
    if kind == "gov":
        return Organ(
            f"{place}人民政府", f"{abbr}政", f"{place}人民政府办公室", "省人民政府", place=place
        )
    if kind == "party":
        return Organ(
            f"中共{place}委员会",
            f"{abbr}{level}委",
            f"中共{place}委员会办公室",
            "省委",
            True,
            place,
        )
    if kind == "court":
        return Organ(
            f"{place}人民法院", f"{abbr}法", f"{place}人民法院办公室", "市中级人民法院", place=place
        )
    if kind == "police":
        return Organ(
            f"{place}公安局", f"{abbr}公", f"{place}公安局警务保障室", "市公安局", place=place
        )
    dept, code = r.choice(
        (
            ("应急管理局", "应急"),
            ("生态环境局", "环"),
            ("教育局", "教"),
            ("卫生健康委员会", "卫健"),
            ("自然资源和规划局", "自然资源"),
            ("财政局", "财"),
            ("市场监督管理局", "市监"),
            ("住房和城乡建设局", "建"),
        )
    )
    return Organ(
        f"{place}{dept}", f"{abbr}{code}", f"{place}{dept}办公室", f"{place}人民政府", place=place
    )


SURNAMES = "卢陈贺邵钟柯阎郝甘褚蒋谭黎程姚魏"
GIVEN = (
    "思远",
    "建国",
    "晓东",
    "文斌",
    "海燕",
    "立新",
    "国栋",
    "慧敏",
    "振华",
    "雅琴",
    "卫东",
    "明辉",
)


def person(r: random.Random) -> str:
    return r.choice(SURNAMES) + r.choice(GIVEN)


SUBJECTS = (
    "汛期地质灾害隐患排查整治",
    "城镇燃气安全专项整治",
    "冬春季森林防灭火",
    "重点项目建设用地保障",
    "基层医疗卫生机构能力提升",
    "农村饮水安全巩固提升",
    "校园周边环境综合治理",
    "重大活动期间社会面管控",
    "政务数据共享安全管理",
    "粮食储备库安全检查",
    "涉企行政执法规范化",
    "低空经济试点",
)
GENRES_DOWN = ("通知", "意见", "实施方案", "工作方案", "决定")
GENRES_UP = ("请示", "报告")


def title(r: random.Random, org: Organ, *, upward: bool = False) -> str:
    subject = r.choice(SUBJECTS)
    genre = r.choice(GENRES_UP if upward else GENRES_DOWN)
    lead = r.choice(("关于", "关于进一步做好", "关于切实加强", "关于开展"))
    if genre in ("请示",):
        return f"{org.name}关于{subject}有关经费的请示"
    return (
        f"{org.name}{lead}{subject}工作的{genre}"
        if r.random() < 0.5
        else f"{lead}{subject}的{genre}"
    )


SENTENCES = (
    "各地各部门要把思想和行动统一到上级决策部署上来，压紧压实属地责任、部门责任和单位主体责任。",
    "请于本月底前将工作开展情况书面报送市政府办公室，逾期未报的予以通报。",
    "要建立健全问题清单、责任清单和整改清单，做到底数清、情况明、措施实。",
    "对排查发现的重大隐患，实行挂牌督办，整改不到位的不得恢复生产经营。",
    "各责任单位要明确一名分管负责同志和一名联络员，确保信息报送渠道畅通。",
    "经费由市级财政统筹安排，专款专用，严禁挤占挪用。",
    "工作中遇到的重大问题，要及时向市委、市政府请示报告。",
    "要加强舆情监测和应急处置，妥善回应群众关切，防止炒作放大。",
    "各县（市、区）要结合实际制定具体实施方案，细化任务分工和时间节点。",
    "现将有关情况报告如下，如有不妥，请批示。",
    "市委、市政府决定成立工作专班，由分管副市长任组长，统筹协调推进各项工作。",
    "请各单位高度重视，认真组织实施，确保各项措施落地见效。",
)
HEADINGS = (
    "一、总体要求",
    "二、主要任务",
    "三、保障措施",
    "一、基本情况",
    "二、存在问题",
    "三、下一步工作",
)


def paragraphs(r: random.Random, count: int) -> list[str]:
    out: list[str] = []
    headings = iter(r.sample(HEADINGS[:3], 3) if r.random() < 0.5 else HEADINGS[3:])
    for i in range(count):
        if i % 3 == 1:
            heading = next(headings, None)
            if heading:
                out.append(heading)
        out.append("".join(r.sample(SENTENCES, k=r.randint(2, 4))))
    return out


def year(r: random.Random) -> int:
    return r.randint(2019, 2025)


def date_text(r: random.Random, yr: int) -> str:
    return f"{yr}年{r.randint(1, 12)}月{r.randint(1, 28)}日"


def doc_number(r: random.Random, code: str, yr: int, kind: str = "发") -> str:
    return f"{code}{kind}〔{yr}〕{r.randint(1, 160)}号"


CLASSIFICATIONS = ("绝密", "机密", "秘密")
PERIODS = ("★1年", "★3个月", "★6个月", "★10年", "★长期", "★启用前", "★2年")
HANDLINGS = ("内部", "内部　注意保存", "内部资料", "工作秘密", "注意保存", "内部文件", "不得外传")
DRAFTS = ("讨论稿", "征求意见稿", "送审稿")


def classification(r: random.Random) -> str:
    return r.choice(CLASSIFICATIONS) + r.choice(PERIODS)


def copy_number(r: random.Random) -> str:
    return f"{r.randint(1, 400):06d}"
