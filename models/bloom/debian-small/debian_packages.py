"""The Debian 12 (bookworm) packages whose documentation is the corpus of
debian-small, pinned by version and by the SHA-256 of the .deb that
bookworm's archive served when the corpus was built, and which of their
files are read and in which language.

Six of BLOOM's languages that Debian ships in quantity: English, French,
Spanish, Portuguese, simplified Chinese and Vietnamese. Portuguese mixes
Brazil's (most manuals, the man pages) and Portugal's (the installation
guide's and the FAQ's "pt").
"""

import re
from dataclasses import dataclass

LANGUAGES = ("en", "fr", "es", "pt", "zh", "vi")


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str
    # Files read: a regular expression over the path inside the package
    # (no leading "./" or "/"). Its group 1, if any, names the language
    # through `languages`; without a group the package has one language.
    files: str
    language: str = ""
    languages: tuple = ()  # ((group value, language), ...)

    def language_of(self, path):
        """The language of `path`, or None when the file is not read."""
        match = re.search(self.files, path)
        if not match:
            return None
        if not self.languages:
            return self.language
        return dict(self.languages).get(match.group(1))


_MAN = r"\.[0-9][a-z]*\.gz$"

PACKAGES = (
    Package("debian-reference-en", "2.100",
            "9f31d3a17df505de09689ca255512ea58c1fc47c59bb1b0c7bf1c23362e9743f",
            r"^usr/share/debian-reference/[^/]+\.en\.html$", "en"),
    Package("debian-reference-fr", "2.100",
            "01424cba9bfa2e13166da22d3d692d33a22ec7d8ef935ec81fd8802746087f65",
            r"^usr/share/debian-reference/[^/]+\.fr\.html$", "fr"),
    Package("debian-reference-es", "2.100",
            "a59b68c96f83d3cf29a476c847aee38364764603ea62eee592791e0a843a269e",
            r"^usr/share/debian-reference/[^/]+\.es\.html$", "es"),
    Package("debian-reference-pt-br", "2.100",
            "da2d405b1c9af9177d620e6ff478bb987bcf2ac906d884aa87faad3f25874116",
            r"^usr/share/debian-reference/[^/]+\.pt-br\.html$", "pt"),
    Package("debian-reference-zh-cn", "2.100",
            "6d2d8d9a646397e28b04cdff23d2e4374101ebf9be348e35961af62c8a2d0977",
            r"^usr/share/debian-reference/[^/]+\.zh-cn\.html$", "zh"),
    Package("debian-faq", "11.1",
            "427426e0cfa6888622fc1d72631071cb4b5a1f86ccde722e7820bcef284de5d0",
            r"^usr/share/doc/debian/FAQ/[^/]+\.en\.html$", "en"),
    Package("debian-faq-fr", "11.1",
            "e83cbcc28106fc35f6665a6b0c54c2bd66db481de409764ce35b715baca510df",
            r"^usr/share/doc/debian/FAQ/fr/[^/]+\.html$", "fr"),
    Package("debian-faq-pt", "11.1",
            "ec3c25671b78da0359611fb904976d5a62f4054953a97a3db0f42883b21d45ea",
            r"^usr/share/doc/debian/FAQ/pt/[^/]+\.html$", "pt"),
    Package("debian-faq-zh-cn", "11.1",
            "3545356b1aa04d87e91dd15e8406210cf5b4f476662e597897bcb42234591758",
            r"^usr/share/doc/debian/FAQ/zh-cn/[^/]+\.html$", "zh"),
    Package("maint-guide", "1.2.53",
            "762c8a400a36668d2eb814a3ba356b06488fd889dfce478eb11d5cfb189a47b5",
            r"^usr/share/doc/maint-guide/html/[^/]+\.html$", "en"),
    Package("maint-guide-fr", "1.2.53",
            "02e6c94eac2c471b898a160717d50f44a3696dfbffda7a9ee74017a6dcd00da8",
            r"^usr/share/doc/maint-guide-fr/html/[^/]+\.html$", "fr"),
    Package("maint-guide-es", "1.2.53",
            "5a76b5e43285173ce4cce9284fb47b9a1851a68a9c0c0b8300c338d8890a42b6",
            r"^usr/share/doc/maint-guide-es/html/[^/]+\.html$", "es"),
    Package("maint-guide-zh-cn", "1.2.53",
            "d605b60a034f63857bc44205aed5ad7ba6e17d0d2b1ba5e79179b4e7ec4ee4bc",
            r"^usr/share/doc/maint-guide-zh-cn/html/[^/]+\.html$", "zh"),
    Package("maint-guide-vi", "1.2.53",
            "9a28b5e7b48edf861a6efdbaa24b81a94a11fec87fd9870f02dbeb1b419c42e3",
            r"^usr/share/doc/maint-guide-vi/html/[^/]+\.html$", "vi"),
    # The chapters only: developers-reference.html repeats them on one page.
    Package("developers-reference", "12.18",
            "0dba82f6fa16e373f2a84ad07e7971aa9264ad2e7d2ae46b37edbc9c5fd57e2e",
            r"^usr/share/developers-reference/(?!developers-reference\.html|search\.html"
            r"|genindex\.html)[^/]+\.html$", "en"),
    Package("developers-reference-fr", "12.18",
            "182d9b2596320600b72ae8bdaa5880c7bb56acc8564aeae3bbc21ba4eda14002",
            r"^usr/share/developers-reference/fr/(?!developers-reference\.html|search\.html"
            r"|genindex\.html)[^/]+\.html$", "fr"),
    Package("aptitude-doc-en", "0.8.13-5",
            "ba4864ca26464bbe06acd94dc4a79402eea5d7b2d3da943d6ecce3c752bc9e84",
            r"^usr/share/doc/aptitude/html/en/[^/]+\.html$", "en"),
    Package("aptitude-doc-fr", "0.8.13-5",
            "a6cf16d609a3872f32ec6c3b93f60f0bbb353e80f25a2b2b11ef3844db6787d2",
            r"^usr/share/doc/aptitude/html/fr/[^/]+\.html$", "fr"),
    Package("aptitude-doc-es", "0.8.13-5",
            "a4245500fe3b449791a9f5910869b4bec4cc7e55e108b28fd03a55737687a917",
            r"^usr/share/doc/aptitude/html/es/[^/]+\.html$", "es"),
    Package("manpages", "6.03-2",
            "efa1ba4cd19ad7baeae959c9209a7eb74be2ebb858bcabb412597bfc9f588c91",
            r"^usr/share/man/man[0-9]/[^/]+" + _MAN, "en"),
    Package("manpages-dev", "6.03-2",
            "96f55cb5e26231d5567c89b692bced63825a14a2d5bd18fdf16ea2ed44eb9838",
            r"^usr/share/man/man[0-9]/[^/]+" + _MAN, "en"),
    Package("manpages-fr", "4.18.1-1",
            "ec29759cc0e4a44dc7719c1e32869d0060667049e584f09556f0d982b969ea33",
            r"^usr/share/man/fr/man[0-9]/[^/]+" + _MAN, "fr"),
    Package("manpages-fr-dev", "4.18.1-1",
            "25f5a53208d92f0a69a89e349edfb3068e6e6e4e0673fe712dd0d3b0c5b1512d",
            r"^usr/share/man/fr/man[0-9]/[^/]+" + _MAN, "fr"),
    Package("manpages-es", "4.18.1-1",
            "d21e9f85e487f149ae45b5c525b2b1a70ae7fd38d4b05b47c8753042c66f4c2b",
            r"^usr/share/man/es/man[0-9]/[^/]+" + _MAN, "es"),
    Package("manpages-es-dev", "4.18.1-1",
            "1c2e676050bc87ecd5b4fafa00e7365504aaaf5d64645ef9989e907e5612a322",
            r"^usr/share/man/es/man[0-9]/[^/]+" + _MAN, "es"),
    Package("manpages-pt-br", "4.18.1-1",
            "da971a7bc0107f7b74b4ae592d1d7cc6424fa7e77cc1808f5c110a07edaf3890",
            r"^usr/share/man/pt_BR/man[0-9]/[^/]+" + _MAN, "pt"),
    Package("manpages-pt-br-dev", "4.18.1-1",
            "b29bb07536eb0a754e75055a0ae9888e0d2a1ab76798826bcefc5c4db6f6917c",
            r"^usr/share/man/pt_BR/man[0-9]/[^/]+" + _MAN, "pt"),
    # zh_CN only: zh_TW holds the same pages in traditional characters.
    Package("manpages-zh", "1.6.4.0-1",
            "81bae29495f6445db290e3f329f1203eb19b651c2a7ea165b74ebdc853a32ac1",
            r"^usr/share/man/zh_CN/man[0-9]/[^/]+" + _MAN, "zh"),
    Package("manpages-vi", "4.18.1-1",
            "c3fb89f768663013c87babcad3fdd525588edb2c9a91a9d1c74dc33c1a6ee73b",
            r"^usr/share/man/vi/man[0-9]/[^/]+" + _MAN, "vi"),
    Package("debian-handbook", "11.20220922",
            "3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa",
            r"^usr/share/doc/debian-handbook/html/([a-zA-Z-]+)/[^/]+\.html$",
            languages=(("en-US", "en"), ("fr-FR", "fr"), ("es-ES", "es"), ("pt-BR", "pt"),
                       ("zh-CN", "zh"), ("vi-VN", "vi"))),
    Package("installation-guide-amd64", "20230508+deb12u1",
            "812c43e1dc906daf671e3efe953dc023205c238e5bd5a3021ce4ca142793573a",
            r"^usr/share/doc/installation-guide-amd64/([a-zA-Z_]+)/[^/]+\.html$",
            languages=(("en", "en"), ("fr", "fr"), ("es", "es"), ("pt", "pt"),
                       ("zh_CN", "zh"), ("vi", "vi"))),
)
