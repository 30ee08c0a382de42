"""Real text for the parity tests, built from what is installed on the machine (no network).

English: Python's own documentation (`pydoc_data.topics`) and standard-library docstrings.
Turkish: the sample below, written for these tests, repeated in varied sentence orders.
"""

from __future__ import annotations

import functools
import importlib
import random
import warnings

TURKISH_SAMPLE = """\
İstanbul, Boğaziçi'nin iki yakasına yayılmış, tarihi ve kültürüyle dünyanın en güzel şehirlerinden biridir.
Sabahları vapurla karşıya geçerken martıların çığlıkları ve simit kokusu insanı hemen uyandırır.
Öğrenciler üniversitenin kütüphanesinde sınavlara çalışıyor, bazıları ise çay bahçesinde sohbet ediyordu.
Ağaçların yaprakları sonbaharda sararıp döküldüğünde, parktaki çocuklar onları toplayıp oyun oynardı.
Büyükannemin pişirdiği börek, ıspanaklı ve peynirli olurdu; kokusu bütün apartmana yayılırdı.
Türkçe, eklemeli bir dildir: "evlerimizden" kelimesi ev, -ler, -imiz ve -den eklerinden oluşur.
Iğdır'dan Ordu'ya, Şırnak'tan Çanakkale'ye kadar ülkenin her köşesinde farklı bir mutfak kültürü vardır.
Öğretmenimiz dün derste ışığın kırılmasını ve gökkuşağının nasıl oluştuğunu anlattı.
Şehrin kalabalığından kaçmak isteyenler hafta sonları dağ köylerine gidip temiz hava alıyor.
Çocukluğumda dedemle birlikte balığa çıkar, güneş doğarken ağları denize bırakırdık.
Kışın kar yağdığında sokaklar bembeyaz olur, insanlar sıcak salep içmek için kafelere koşardı.
Bu kitabı okuduktan sonra düşüncelerimi değiştirmek zorunda kaldığımı itiraf etmeliyim.
Müzeyi gezen turistler, Bizans ve Osmanlı dönemine ait eserlerin güzelliği karşısında şaşırdılar.
Yağmur başlamadan önce çamaşırları içeri almayı unutma, yoksa hepsi ıslanır.
Gençler, şarkı söyleyip gitar çalarak sahilde geç saatlere kadar eğlendiler.
Pazar yerinde domates, biber, patlıcan ve taze üzüm satan satıcılar müşterilere sesleniyordu.
İşçiler yeni köprünün inşaatını planlanan süreden iki ay önce tamamladılar.
Doktor, hastasına düzenli uyumasını, bol su içmesini ve yürüyüş yapmasını öğütledi.
Ilık bir bahar akşamında, eski dostlar yıllar sonra aynı masada buluşup anılarını tazelediler.
Gökyüzündeki yıldızları izlerken, evrenin ne kadar büyük olduğunu düşünüp küçüldüğümü hissettim.
Şirketin yöneticileri, çalışanların önerilerini dinledikten sonra yeni bir çalışma düzeni kurdu.
Köydeki ihtiyar çınar ağacının gölgesinde oturan yaşlılar, geçmiş günlerin hikâyelerini anlatırdı.
Tren istasyonunda bekleşen yolcular, gecikmenin nedenini öğrenmek için görevliye soru sordu.
Kapadokya'da sıcak hava balonuyla uçmak, hayatım boyunca unutamayacağım bir deneyimdi.
Işıklar söndüğünde sinema salonunda derin bir sessizlik oldu ve film başladı.
Annem, bayram sabahı herkese şeker ikram eder, büyüklerin elini öpmemizi isterdi.
Öğleden sonra başlayan toplantı, tartışmalar uzayınca akşam yedide ancak bitebildi.
Üsküdar'dan bakınca Kız Kulesi, akşam güneşinin turuncu ışığı altında büsbütün başka görünür.
Küçük kardeşim ödevini bitirmeden bilgisayar oyunu oynamaya başlayınca babam çok kızdı.
Şu an okuduğunuz cümleler, tokenizer'ın Türkçe karakterleri doğru işleyip işlemediğini sınamak için yazıldı.
Ağustos ayında sıcaklık kırk dereceyi geçince, şehirde yaşayanlar serinlemek için plajlara akın etti.
Ürünlerin fiyatları 2023 yılında yüzde 65 oranında artınca, aileler bütçelerini yeniden gözden geçirdi.
Çiftçiler, kuraklık yüzünden bu yıl buğday hasadının geçen yılın yarısı kadar olacağını söylüyor.
Eğer yarın hava güzel olursa, Büyükada'ya gidip bisikletle adanın çevresini dolaşacağız.
İnsanların birbirini anlaması için önce dinlemeyi öğrenmesi gerektiğine inanıyorum.
Bıçağı dikkatli kullan; soğanı ince ince doğrarken parmağını kesebilirsin.
Gölün kıyısındaki ördekler, çocukların attığı ekmek kırıntılarını kapışmak için yarışıyordu.
Dün gece şiddetli fırtına yüzünden elektrikler kesildi, mum ışığında yemek yedik.
Öykü yazmayı seven arkadaşım, ilk romanını bitirmek için iki yıldır her sabah erkenden kalkıyor.
Şarkının sözlerini hatırlamaya çalıştım ama yalnızca nakaratı aklımda kalmıştı.
"""


def turkish_text(min_chars: int = 60_000, seed: int = 0) -> str:
    """The Turkish sample, its sentences reshuffled (deterministically) until long enough."""
    sentences = [s for s in TURKISH_SAMPLE.splitlines() if s]
    rng = random.Random(seed)
    parts, size = [TURKISH_SAMPLE], len(TURKISH_SAMPLE)
    while size < min_chars:
        rng.shuffle(sentences)
        paragraph = " ".join(sentences[:8]) + "\n"  # varied word neighbours, same vocabulary
        parts.append(paragraph)
        size += len(paragraph)
    return "".join(parts)


DOC_MODULES = [
    "os",
    "re",
    "json",
    "collections",
    "itertools",
    "functools",
    "pathlib",
    "subprocess",
    "argparse",
    "unittest",
    "typing",
    "string",
    "textwrap",
    "heapq",
]


def docstrings() -> str:
    """Docstrings of some standard-library modules and their public members."""
    out = []
    with warnings.catch_warnings():  # some attributes are deprecated aliases (typing.io)
        warnings.simplefilter("ignore")
        for name in DOC_MODULES:
            module = importlib.import_module(name)
            out.append(module.__doc__ or "")
            for attr in sorted(dir(module)):
                if not attr.startswith("_"):
                    doc = getattr(getattr(module, attr, None), "__doc__", None)
                    if isinstance(doc, str):
                        out.append(doc)
    return "\n".join(out)


@functools.cache
def english_text(min_chars: int = 200_000) -> str:
    """Python's documentation topics (sorted by name) plus docstrings, cut to a size."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions split it off; the docstrings alone are ~300 KB
        topics = {}
    text = "\n".join(topics[k] for k in sorted(topics)) + "\n" + docstrings()
    return text[:min_chars]


def parity_corpus() -> list[str]:
    """At least 200 KB (UTF-8) of real English and Turkish text, as a list of lines."""
    text = english_text(200_000) + "\n" + turkish_text(60_000)
    lines = text.splitlines(keepends=True)
    assert sum(len(s.encode()) for s in lines) >= 200_000
    return lines
