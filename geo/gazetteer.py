"""A gazetteer (门牌/地址库): finding a written address among the city's address points.

Residents and client systems write the same address many ways: ``上海市浦东新区张东路2281弄``,
``浦东新区 张东路 2281 弄``, ``张东路２２８１弄`` (full-width digits from a Chinese keyboard),
``张东路二二八一弄``. :func:`normalise` writes each the one way it is stored; a written address
then matches exactly, or else by a fuzzy comparison among the points that carry the same house
numbers, above :data:`FUZZY_MIN_SCORE`.

House numbers must agree exactly: ``人民路100号`` and ``人民路101号`` differ by one character and
are different doors, so a fuzzy match never crosses numbers. What fuzziness forgives is the
text around them: a missing ``弄``, a wrong character in a road's name, a district left out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

#: The least score (rapidfuzz's ``fuzz.ratio``, 0–100, of the address without its district)
#: a fuzzy match needs. One character wrong in a seven-character address scores 85.7 and
#: passes; two wrong score 71.4 and do not, nor does a made-up road with real numbers.
FUZZY_MIN_SCORE = 85.0

#: City names stripped from the front of an address: the gazetteer serves one city.
CITY_NAMES = ("上海",)

#: An administrative prefix is a district only when this many address points carry it, so a
#: neighbourhood such as ``阳光小区`` at the front of a few addresses is never taken for one.
MIN_DISTRICT_POINTS = 20

_TRADITIONAL = str.maketrans({"號": "号", "幢": "栋", "棟": "栋", "衖": "弄", "樓": "楼"})
_DASHES = re.compile(r"[‐‑‒–—―−－]")
_DROP = re.compile(r"[\s|,，、。.·•:：;；'\"“”‘’()（）\[\]【】<>《》#＃/\\_~]+")
_UNIT = "号弄栋支室楼层"
_CN_NUMBER = re.compile(rf"([零〇一二两三四五六七八九十百千]+)(?=[{_UNIT}])")
_NUMBERS = re.compile(r"\d+")
_DISTRICT = re.compile(r"^(.{1,4}?(?:新区|区|县))")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4}
_CN_DIGITS.update({"五": 5, "六": 6, "七": 7, "八": 8, "九": 9})
_CN_SCALE = {"十": 10, "百": 100, "千": 1000}


def chinese_number(text: str) -> int:
    """A number written in Chinese, as a resident writes a house number.

    >>> chinese_number("二十八"), chinese_number("十二"), chinese_number("一二八")
    (28, 12, 128)
    >>> chinese_number("三百零五")
    305
    """
    if not any(ch in _CN_SCALE for ch in text):  # digit by digit: 一二八 is 128
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total, digit = 0, 0
    for ch in text:
        if ch in _CN_SCALE:
            total += (digit or 1) * _CN_SCALE[ch]
            digit = 0
        else:
            digit = _CN_DIGITS[ch]
    return total + digit


def normalise(text: str, cities: Sequence[str] = CITY_NAMES) -> str:
    """The one way an address is stored and compared.

    Full-width characters become half-width, spaces and punctuation go, house numbers written
    in Chinese become digits and lose leading zeros, traditional characters of numbering
    become simplified, and the city's name goes from the front (the district stays).

    >>> normalise("上海市浦东新区 张东路２２８１弄")
    '浦东新区张东路2281弄'
    >>> normalise("上海 静安区沪太路|6040號")
    '静安区沪太路6040号'
    >>> normalise("黄浦区蓬莱路二百八十四号 3幢")
    '黄浦区蓬莱路284号3栋'
    >>> normalise("Ｒｏｏｍ 0702, 18－3 号")
    'room70218-3号'
    """
    text = unicodedata.normalize("NFKC", text).translate(_TRADITIONAL).lower()
    text = _DASHES.sub("-", text)
    text = _DROP.sub("", text)
    text = _CN_NUMBER.sub(lambda m: str(chinese_number(m.group(1))), text)
    text = _NUMBERS.sub(lambda m: str(int(m.group())), text)
    text = text.removeprefix("中国")
    for city in cities:
        if text.startswith(city):
            text = text[len(city) :].removeprefix("市")
            break
    return text


def numbers(key: str) -> tuple[int, ...]:
    """The house numbers of a normalised address, which a fuzzy match must keep.

    >>> numbers("浦东新区张东路2281弄12号")
    (2281, 12)
    """
    return tuple(int(n) for n in _NUMBERS.findall(key))


@dataclass(frozen=True)
class AddressPoint:
    """One address of the city and its point (WGS84)."""

    ref: str
    address: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Match:
    """The point an address was found at, how, and how sure (100 for an exact match)."""

    point: AddressPoint
    score: float
    method: Literal["address_id", "exact", "fuzzy"]


@dataclass
class Gazetteer:
    """The city's address points, indexed for :meth:`find`."""

    by_key: dict[str, AddressPoint] = field(default_factory=dict)
    by_ref: dict[str, AddressPoint] = field(default_factory=dict)
    districts: frozenset[str] = frozenset()
    # Addresses without their district, by house numbers: the fuzzy match's candidates.
    _bare: dict[tuple[int, ...], dict[str, list[tuple[str | None, AddressPoint]]]] = field(
        default_factory=dict
    )

    @classmethod
    def build(cls, points: Iterable[AddressPoint]) -> Gazetteer:
        """Index ``points``; the first point of an address wins.

        >>> g = Gazetteer.build([AddressPoint("1", "上海市黄浦区人民大道200号", 121.47, 31.23)])
        >>> g.find("人民大道 200 号").point.ref, g.find("人民大道 200 号").method
        ('1', 'exact')
        >>> g.find("人民大到200号").method, round(g.find("人民大到200号").score, 1)
        ('fuzzy', 87.5)
        >>> g.find("人民大道201号") is None, g.find("火星大道200号") is None
        (True, True)
        """
        gazetteer = cls()
        keyed: list[tuple[str, AddressPoint]] = []
        for point in points:
            key = normalise(point.address)
            if key and key not in gazetteer.by_key:
                gazetteer.by_key[key] = point
                keyed.append((key, point))
            gazetteer.by_ref.setdefault(point.ref, point)
        counts: dict[str, int] = {}
        for key, _ in keyed:
            found = _DISTRICT.match(key)
            if found:
                counts[found.group(1)] = counts.get(found.group(1), 0) + 1
        threshold = min(MIN_DISTRICT_POINTS, max(1, len(keyed) // 100))
        gazetteer.districts = frozenset(d for d, n in counts.items() if n >= threshold)
        for key, point in keyed:
            district, bare = gazetteer.split(key)
            found_bare = gazetteer._bare.setdefault(numbers(bare), {})
            found_bare.setdefault(bare, []).append((district, point))
        return gazetteer

    def __len__(self) -> int:
        return len(self.by_key)

    def split(self, key: str) -> tuple[str | None, str]:
        """(district, the rest) of a normalised address; the district None when not given."""
        found = _DISTRICT.match(key)
        if found and found.group(1) in self.districts:
            return found.group(1), key[found.end() :]
        return None, key

    def find(self, text: str) -> Match | None:
        """The point of a written address: exact, else the best fuzzy match at or above
        :data:`FUZZY_MIN_SCORE` with the same house numbers; None when nothing is near enough
        or an address without its district names places in several districts."""
        key = normalise(text)
        if not key:
            return None
        exact = self.by_key.get(key)
        if exact is not None:
            return Match(exact, 100.0, "exact")
        district, bare = self.split(key)
        same_numbers = self._bare.get(numbers(bare), {})
        places = [(d, p) for d, p in same_numbers.get(bare, []) if district in (None, d)]
        if places:
            if len({d for d, _ in places}) > 1:
                return None  # 罗汉松 in two districts: the writer must say which
            return Match(places[0][1], 100.0, "exact")
        choices: dict[str, AddressPoint] = {}
        for candidate, found in same_numbers.items():
            inside = [p for d, p in found if district in (None, d)]
            if len(inside) == 1 or (inside and district is not None):
                choices[candidate] = inside[0]
        best = process.extractOne(
            bare, list(choices), scorer=fuzz.ratio, score_cutoff=FUZZY_MIN_SCORE
        )
        if best is None:
            return None
        return Match(choices[best[0]], float(best[1]), "fuzzy")
