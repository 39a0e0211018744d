"""Countries and territories an address's last line may name, and their Royal Mail postage zone.

Matching ignores case, spaces, ``_ - ' ’ , . ( )`` and accents, reads ``&`` and ``+`` as "and",
reads "St" as "Saint", and ignores a leading "the", "yr" or "y" (so "The Netherlands" and
"Yr Almaen" resolve). A line with a digit in it is never a country. The Crown dependencies
resolve to the United Kingdom: they take UK postage and UK (JE, GY, IM) postcodes.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Literal, TypeAlias

Zone: TypeAlias = Literal["uk", "europe", "rest-of-world"]

UNITED_KINGDOM = "United Kingdom"


@dataclasses.dataclass(frozen=True, slots=True)
class Country:
    """A country or territory by its canonical English name, with its postage zone."""

    name: str
    zone: Zone

    @property
    def is_uk(self) -> bool:
        return self.zone == "uk"


# name | ISO alpha-2 | ISO alpha-3 | zone (U = UK, E = Europe, blank = rest of world) | synonyms;
# a name may have more than one row, to keep rows short.
# Royal Mail's Europe zone includes some countries outside the EU (Russia, Turkey, Kazakhstan).
# ISO "NI" is Nicaragua, but on a UK letter it means Northern Ireland, so Nicaragua goes without.
_TABLE = """
United Kingdom|GB|GBR|U|UK;U.K.;Great Britain;Britain;Y Deyrnas Unedig;Prydain;Prydain Fawr
United Kingdom|||U|United Kingdom of Great Britain and Northern Ireland
England|||U|Lloegr
Scotland|||U|Yr Alban
Wales|||U|Cymru
Northern Ireland|||U|NI;Gogledd Iwerddon
Channel Islands|||U|Ynysoedd y Sianel
Jersey|JE|JEY|U|
Guernsey|GG|GGY|U|
Alderney|||U|
Sark|||U|
Herm|||U|
Brecqhou|||U|
Jethou|||U|
Isle of Man|IM|IMN|U|Ynys Manaw
Åland Islands|AX|ALA|E|Aland
Albania|AL|ALB|E|
Andorra|AD|AND|E|
Armenia|AM|ARM|E|
Austria|AT|AUT|E|Awstria
Azerbaijan|AZ|AZE|E|
Azores|||E|
Balearic Islands|||E|
Belarus|BY|BLR|E|
Belgium|BE|BEL|E|Gwlad Belg
Bosnia and Herzegovina|BA|BIH|E|Bosnia
Bulgaria|BG|BGR|E|Bwlgaria
Canary Islands|||E|
Corsica|||E|
Croatia|HR|HRV|E|
Cyprus|CY|CYP|E|
Czechia|CZ|CZE|E|Czech Republic;Gweriniaeth Tsiec
Denmark|DK|DNK|E|Denmarc
Estonia|EE|EST|E|
Faroe Islands|FO|FRO|E|Faroes
Finland|FI|FIN|E|Y Ffindir
France|FR|FRA|E|Ffrainc
Georgia|GE|GEO|E|
Germany|DE|DEU|E|Yr Almaen;Deutschland
Gibraltar|GI|GIB|E|
Greece|GR|GRC|E|Gwlad Groeg
Greenland|GL|GRL|E|
Hungary|HU|HUN|E|Hwngari
Iceland|IS|ISL|E|Gwlad yr Iâ
Ireland|IE|IRL|E|Republic of Ireland;Eire;Éire;Iwerddon;Gweriniaeth Iwerddon
Italy|IT|ITA|E|Yr Eidal;Italia
Kazakhstan|KZ|KAZ|E|
Kosovo|XK|XKX|E|
Kyrgyzstan|KG|KGZ|E|
Latvia|LV|LVA|E|
Liechtenstein|LI|LIE|E|
Lithuania|LT|LTU|E|
Luxembourg|LU|LUX|E|
Madeira|||E|
Malta|MT|MLT|E|
Moldova|MD|MDA|E|Republic of Moldova
Monaco|MC|MCO|E|
Montenegro|ME|MNE|E|
Netherlands|NL|NLD|E|Holland;Yr Iseldiroedd
North Macedonia|MK|MKD|E|Macedonia
Norway|NO|NOR|E|Norwy
Poland|PL|POL|E|Gwlad Pwyl
Portugal|PT|PRT|E|Portiwgal
Romania|RO|ROU|E|Rwmania
Russia|RU|RUS|E|Russian Federation;Rwsia
San Marino|SM|SMR|E|
Serbia|RS|SRB|E|
Slovakia|SK|SVK|E|
Slovenia|SI|SVN|E|
Spain|ES|ESP|E|Sbaen;España
Svalbard and Jan Mayen|SJ|SJM|E|Svalbard
Sweden|SE|SWE|E|
Switzerland|CH|CHE|E|Y Swistir
Tajikistan|TJ|TJK|E|
Turkey|TR|TUR|E|Türkiye;Twrci
Turkmenistan|TM|TKM|E|
Ukraine|UA|UKR|E|Wcráin
Uzbekistan|UZ|UZB|E|
Vatican City|VA|VAT|E|Holy See;Vatican
Afghanistan|AF|AFG||
Algeria|DZ|DZA||
American Samoa|AS|ASM||
Angola|AO|AGO||
Anguilla|AI|AIA||
Antarctica|AQ|ATA||
Antigua and Barbuda|AG|ATG||Antigua
Argentina|AR|ARG||Yr Ariannin
Aruba|AW|ABW||
Ascension Island||||
Australia|AU|AUS||Awstralia
Bahamas|BS|BHS||
Bahrain|BH|BHR||
Bangladesh|BD|BGD||
Barbados|BB|BRB||
Belize|BZ|BLZ||
Benin|BJ|BEN||
Bermuda|BM|BMU||
Bhutan|BT|BTN||
Bolivia|BO|BOL||
Bonaire, Sint Eustatius and Saba|BQ|BES||Bonaire;Caribbean Netherlands
Botswana|BW|BWA||
Bouvet Island|BV|BVT||
Brazil|BR|BRA||Brasil
British Indian Ocean Territory|IO|IOT||
British Virgin Islands|VG|VGB||
Brunei|BN|BRN||Brunei Darussalam
Burkina Faso|BF|BFA||
Burundi|BI|BDI||
Cambodia|KH|KHM||
Cameroon|CM|CMR||
Canada|CA|CAN||
Cape Verde|CV|CPV||Cabo Verde
Cayman Islands|KY|CYM||
Central African Republic|CF|CAF||
Chad|TD|TCD||
Chile|CL|CHL||
China|CN|CHN||Tsieina;People's Republic of China
Christmas Island|CX|CXR||
Cocos (Keeling) Islands|CC|CCK||Cocos Islands
Colombia|CO|COL||
Comoros|KM|COM||
Congo|CG|COG||Republic of the Congo;Congo-Brazzaville
Cook Islands|CK|COK||
Costa Rica|CR|CRI||
Cuba|CU|CUB||Ciwba
Curaçao|CW|CUW||
Democratic Republic of the Congo|CD|COD||DRC;DR Congo;Congo-Kinshasa
Djibouti|DJ|DJI||
Dominica|DM|DMA||
Dominican Republic|DO|DOM||
East Timor|TL|TLS||Timor-Leste
Ecuador|EC|ECU||
Egypt|EG|EGY||Yr Aifft
El Salvador|SV|SLV||
Equatorial Guinea|GQ|GNQ||
Eritrea|ER|ERI||
Eswatini|SZ|SWZ||Swaziland
Ethiopia|ET|ETH||
Falkland Islands|FK|FLK||Falklands
Fiji|FJ|FJI||
French Guiana|GF|GUF||
French Polynesia|PF|PYF||
French Southern Territories|TF|ATF||
Gabon|GA|GAB||
Gambia|GM|GMB||
Ghana|GH|GHA||
Grenada|GD|GRD||
Guadeloupe|GP|GLP||
Guam|GU|GUM||
Guatemala|GT|GTM||
Guinea|GN|GIN||
Guinea-Bissau|GW|GNB||
Guyana|GY|GUY||
Haiti|HT|HTI||
Heard Island and McDonald Islands|HM|HMD||
Honduras|HN|HND||
Hong Kong|HK|HKG||
India|IN|IND||
Indonesia|ID|IDN||
Iran|IR|IRN||
Iraq|IQ|IRQ||Irac
Israel|IL|ISR||
Ivory Coast|CI|CIV||Côte d'Ivoire;Cote d'Ivoire
Jamaica|JM|JAM||
Japan|JP|JPN||Siapan
Jordan|JO|JOR||
Kenya|KE|KEN||Cenia
Kiribati|KI|KIR||
Kuwait|KW|KWT||
Laos|LA|LAO||
Lebanon|LB|LBN||
Lesotho|LS|LSO||
Liberia|LR|LBR||
Libya|LY|LBY||
Macao|MO|MAC||Macau
Madagascar|MG|MDG||
Malawi|MW|MWI||
Malaysia|MY|MYS||
Maldives|MV|MDV||
Mali|ML|MLI||
Marshall Islands|MH|MHL||
Martinique|MQ|MTQ||
Mauritania|MR|MRT||
Mauritius|MU|MUS||
Mayotte|YT|MYT||
Mexico|MX|MEX||Mecsico
Micronesia|FM|FSM||
Mongolia|MN|MNG||
Montserrat|MS|MSR||
Morocco|MA|MAR||
Mozambique|MZ|MOZ||
Myanmar|MM|MMR||Burma
Namibia|NA|NAM||
Nauru|NR|NRU||
Nepal|NP|NPL||
New Caledonia|NC|NCL||
New Zealand|NZ|NZL||Seland Newydd
Nicaragua||NIC||
Niger|NE|NER||
Nigeria|NG|NGA||
Niue|NU|NIU||
Norfolk Island|NF|NFK||
North Korea|KP|PRK||
Northern Mariana Islands|MP|MNP||
Oman|OM|OMN||
Pakistan|PK|PAK||Pacistan
Palau|PW|PLW||
Palestine|PS|PSE||Occupied Palestinian Territories;Palestinian Territories
Panama|PA|PAN||
Papua New Guinea|PG|PNG||
Paraguay|PY|PRY||
Peru|PE|PER||
Philippines|PH|PHL||
Pitcairn Islands|PN|PCN||Pitcairn
Puerto Rico|PR|PRI||
Qatar|QA|QAT||
Réunion|RE|REU||
Rwanda|RW|RWA||
Saint Barthélemy|BL|BLM||
Saint Helena|SH|SHN||
Saint Kitts and Nevis|KN|KNA||Saint Kitts
Saint Lucia|LC|LCA||
Saint Martin|MF|MAF||
Saint Pierre and Miquelon|PM|SPM||
Saint Vincent and the Grenadines|VC|VCT||Saint Vincent
Samoa|WS|WSM||
São Tomé and Príncipe|ST|STP||
Saudi Arabia|SA|SAU||Sawdi Arabia
Senegal|SN|SEN||
Seychelles|SC|SYC||
Sierra Leone|SL|SLE||
Singapore|SG|SGP||
Sint Maarten|SX|SXM||
Solomon Islands|SB|SLB||
Somalia|SO|SOM||
South Africa|ZA|ZAF||De Affrica
South Georgia and the South Sandwich Islands|GS|SGS||South Georgia
South Korea|KR|KOR||Republic of Korea;Korea
South Sudan|SS|SSD||
Sri Lanka|LK|LKA||
Sudan|SD|SDN||
Suriname|SR|SUR||
Syria|SY|SYR||
Taiwan|TW|TWN||
Tanzania|TZ|TZA||
Thailand|TH|THA||
Togo|TG|TGO||
Tokelau|TK|TKL||
Tonga|TO|TON||
Trinidad and Tobago|TT|TTO||Trinidad
Tristan da Cunha||||
Tunisia|TN|TUN||
Turks and Caicos Islands|TC|TCA||
Tuvalu|TV|TUV||
Uganda|UG|UGA||
United Arab Emirates|AE|ARE||UAE
United States|US|USA||United States of America;America;U.S.A.;Unol Daleithiau
United States||||Unol Daleithiau America
United States Minor Outlying Islands|UM|UMI||
United States Virgin Islands|VI|VIR||US Virgin Islands
Uruguay|UY|URY||
Vanuatu|VU|VUT||
Venezuela|VE|VEN||
Vietnam|VN|VNM||Viet Nam
Wallis and Futuna|WF|WLF||
Western Sahara|EH|ESH||
Yemen|YE|YEM||
Zambia|ZM|ZMB||
Zimbabwe|ZW|ZWE||
"""

_IGNORED = re.compile(r"[\s_\-'’,.()]+")
_ARTICLES = frozenset({"the", "yr", "y"})
_ZONES: dict[str, Zone] = {"U": "uk", "E": "europe", "": "rest-of-world"}


def _key(text: str) -> str:
    """The form names are compared in: no accents, case, articles or punctuation."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    words = folded.replace("&", " and ").replace("+", " and ").split()
    words = ["saint" if word.rstrip(".") == "st" else word for word in words]
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return _IGNORED.sub("", " ".join(words))


def _index() -> dict[str, Country]:
    index: dict[str, Country] = {}
    for row in _TABLE.strip().splitlines():
        name, alpha2, alpha3, zone, synonyms = row.split("|")
        # Crown dependencies and the home nations all resolve to the one UK entry.
        country = Country(UNITED_KINGDOM if zone == "U" else name, _ZONES[zone])
        for alias in (name, alpha2, alpha3, *synonyms.split(";")):
            if alias:
                index.setdefault(_key(alias), country)
    return index


_INDEX = _index()


def find_country(line: str) -> Country | None:
    """The country or territory ``line`` names, or None (always None when it has a digit)."""
    if any(c.isdigit() for c in line):
        return None
    return _INDEX.get(_key(line))
