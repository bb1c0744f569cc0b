"""A generated English->German / English->French parallel corpus from a small bilingual grammar.

Why: the main training job needs data that a tiny Transformer can learn in minutes on a CPU, with
a real (deterministic, structured) mapping so that BLEU means something. Every sentence is a
`Sentence` spec, sampled at random and rendered by `render` into English, German and French. The
grammar covers numbers (words and digits), dates, prices, ages, quantities, German case and gender
(articles, weak nouns, adjective declension after definite, indefinite and no article), German
verb-second, verb-final (weil, dass) and verb-first (questions) order, separable and modal verbs,
negation (nicht / kein, ne ... pas (de)), the perfect with haben / sein and avoir / être (with
agreement), and French elision, contraction, adjective agreement and placement.

Grammar comes before sense: sentences are correct but may be odd ("The soup costs eighty-five
euros."). The English decides the translation: "you" is always du / tu, "they" always sie / ils,
tense follows the time adverbial (past ones give the perfect), and clauses that would need the
gender of I / you / we in French (être, predicative adjectives) are not generated.

Splits are disjoint by construction: a sentence belongs to the split that a stable hash of its
English text picks (`split_of`), whatever the seed or the requested size.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["VERSION", "PAIRS", "SPLITS", "SIZES", "NP", "Clause", "Sentence", "generate", "render", "number",
           "split_of"]

VERSION = 1  # bump whenever the generated text changes, so cached builds of the corpus are not reused

PAIRS = ("en-de", "en-fr")
SPLITS = ("train", "validation", "test")
SIZES = {"train": 100_000, "validation": 1_000, "test": 1_000}
LANGS = ("en", "de", "fr")
_BUCKETS = 20  # crc32(English) % 20: 0 is validation, 1 is test, the rest train (5%, 5%, 90%)

Time = str | int | tuple[int, int, int] | None  # a _TIMES key, a year, or (day, month, year)


# --------------------------------------------------------------------------------------- specs

@dataclass(frozen=True, slots=True)
class NP:
    """A noun phrase. `head` is a noun key, a name, a city, or a pronoun (I you he she we they)."""

    head: str
    det: str = "the"  # the | a | "" (bare plural or mass) | num | my your his her our their
    n: int = 1  # how many; more than one is plural
    adj: str = ""
    of: NP | None = None  # possessor: the teacher's car, Anna's car
    unit: str = ""  # a measure: NP("apple", "num", 5, unit="kilogram") is five kilograms of apples
    digits: bool = False  # write the numeral in digits


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause: kind "do" (a verb from the lexicon), "be" (+ adjective), "age" or "exist"."""

    kind: str = "do"
    subj: NP | None = None
    verb: str = ""
    obj: NP | None = None
    to: NP | None = None  # recipient: German dative, French a + NP
    dest: NP | None = None  # where a motion verb goes
    place: NP | None = None  # where it happens (and where something exists)
    with_: NP | None = None
    adj: str = ""  # predicate of "be"
    num: int | str = 0  # age, count ("counts to 99") or price (int, or "3.50")
    digits: bool = False
    time: Time = None  # past times (yesterday, dates, years) put the verb in the perfect
    modal: str = ""  # want | can | must
    neg: bool = False
    front: bool = False  # the time adverbial comes first (German then inverts subject and verb)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A main clause, optionally joined to a subordinate one (because / that), or a question."""

    main: Clause
    link: str = ""  # "" | because | that (the main verb is then say, think or know)
    sub: Clause | None = None
    ask: bool = False


# ------------------------------------------------------------------------------------- lexicon

class Noun(NamedTuple):
    cls: str  # p person, a animal, t thing, f countable food, m mass food, d drink, l place, u unit
    en: tuple[str, str]
    g: str  # German gender m f n
    de: tuple[str, str]
    de_obl: str  # accusative/dative singular (differs for weak nouns: den Jungen)
    de_gen: str
    fg: str  # French gender m f
    fr: tuple[str, str]

    @property
    def count(self) -> bool:
        return self.en[1] != "-"


def _nouns(table: str) -> dict[str, Noun]:
    """key class en_sg/en_pl g de_sg/de_pl[/genitive or w for weak] g fr_sg/fr_pl (_ is a space)."""
    out = {}
    for line in table.strip().splitlines():
        key, cls, en, g, de, fg, fr = line.split()
        de_sg, de_pl, *extra = de.split("/")
        weak = extra == ["w"]
        gen = de_pl if weak else extra[0] if extra else de_sg + "s" if g != "f" else de_sg
        out[key] = Noun(cls, tuple(en.split("/")), g, (de_sg, de_pl), de_pl if weak else de_sg, gen,
                        fg, tuple(fr.replace("_", " ").split("/")))
    return out


_NOUNS = _nouns("""
man         p  man/men               m  Mann/Männer/Mannes        m  homme/hommes
woman       p  woman/women           f  Frau/Frauen               f  femme/femmes
child       p  child/children        n  Kind/Kinder/Kindes        m  enfant/enfants
boy         p  boy/boys              m  Junge/Jungen/w            m  garçon/garçons
girl        p  girl/girls            n  Mädchen/Mädchen           f  fille/filles
friend      p  friend/friends        m  Freund/Freunde/Freundes   m  ami/amis
teacher     p  teacher/teachers      m  Lehrer/Lehrer             m  professeur/professeurs
doctor      p  doctor/doctors        m  Arzt/Ärzte/Arztes         m  médecin/médecins
student     p  student/students      m  Student/Studenten/w       m  étudiant/étudiants
neighbour   p  neighbour/neighbours  m  Nachbar/Nachbarn/w        m  voisin/voisins
baker       p  baker/bakers          m  Bäcker/Bäcker             m  boulanger/boulangers
cook        p  cook/cooks            m  Koch/Köche                m  cuisinier/cuisiniers
brother     p  brother/brothers      m  Bruder/Brüder             m  frère/frères
sister      p  sister/sisters        f  Schwester/Schwestern      f  sœur/sœurs
mother      p  mother/mothers        f  Mutter/Mütter             f  mère/mères
father      p  father/fathers        m  Vater/Väter               m  père/pères
aunt        p  aunt/aunts            f  Tante/Tanten              f  tante/tantes
uncle       p  uncle/uncles          m  Onkel/Onkel               m  oncle/oncles
dog         a  dog/dogs              m  Hund/Hunde/Hundes         m  chien/chiens
cat         a  cat/cats              f  Katze/Katzen              m  chat/chats
horse       a  horse/horses          n  Pferd/Pferde/Pferdes      m  cheval/chevaux
bird        a  bird/birds            m  Vogel/Vögel               m  oiseau/oiseaux
cow         a  cow/cows              f  Kuh/Kühe                  f  vache/vaches
book        t  book/books            n  Buch/Bücher               m  livre/livres
car         t  car/cars              n  Auto/Autos                f  voiture/voitures
table       t  table/tables          m  Tisch/Tische              f  table/tables
chair       t  chair/chairs          m  Stuhl/Stühle              f  chaise/chaises
door        t  door/doors            f  Tür/Türen                 f  porte/portes
window      t  window/windows        n  Fenster/Fenster           f  fenêtre/fenêtres
key         t  key/keys              m  Schlüssel/Schlüssel       f  clé/clés
letter      t  letter/letters        m  Brief/Briefe              f  lettre/lettres
newspaper   t  newspaper/newspapers  f  Zeitung/Zeitungen         m  journal/journaux
bag         t  bag/bags              f  Tasche/Taschen            m  sac/sacs
bicycle     t  bicycle/bicycles      n  Fahrrad/Fahrräder         m  vélo/vélos
computer    t  computer/computers    m  Computer/Computer         m  ordinateur/ordinateurs
clock       t  clock/clocks          f  Uhr/Uhren                 f  horloge/horloges
umbrella    t  umbrella/umbrellas    m  Regenschirm/Regenschirme  m  parapluie/parapluies
shirt       t  shirt/shirts          n  Hemd/Hemden               f  chemise/chemises
hat         t  hat/hats              m  Hut/Hüte                  m  chapeau/chapeaux
box         t  box/boxes             f  Kiste/Kisten              f  boîte/boîtes
bottle      t  bottle/bottles        f  Flasche/Flaschen          f  bouteille/bouteilles
glass       t  glass/glasses         n  Glas/Gläser               m  verre/verres
cup         t  cup/cups              f  Tasse/Tassen              f  tasse/tasses
lamp        t  lamp/lamps            f  Lampe/Lampen              f  lampe/lampes
photo       t  photo/photos          n  Foto/Fotos                f  photo/photos
film        t  film/films            m  Film/Filme                m  film/films
ticket      t  ticket/tickets        f  Fahrkarte/Fahrkarten      m  billet/billets
phone       t  phone/phones          n  Telefon/Telefone          m  téléphone/téléphones
pen         t  pen/pens              m  Stift/Stifte              m  stylo/stylos
ball        t  ball/balls            m  Ball/Bälle                m  ballon/ballons
shoe        t  shoe/shoes            m  Schuh/Schuhe              f  chaussure/chaussures
coat        t  coat/coats            m  Mantel/Mäntel             m  manteau/manteaux
tree        t  tree/trees            m  Baum/Bäume                m  arbre/arbres
flower      t  flower/flowers        f  Blume/Blumen              f  fleur/fleurs
apple       f  apple/apples          m  Apfel/Äpfel               f  pomme/pommes
pear        f  pear/pears            f  Birne/Birnen              f  poire/poires
egg         f  egg/eggs              n  Ei/Eier                   m  œuf/œufs
cake        f  cake/cakes            m  Kuchen/Kuchen             m  gâteau/gâteaux
orange      f  orange/oranges        f  Orange/Orangen            f  orange/oranges
tomato      f  tomato/tomatoes       f  Tomate/Tomaten            f  tomate/tomates
banana      f  banana/bananas        f  Banane/Bananen            f  banane/bananes
potato      f  potato/potatoes       f  Kartoffel/Kartoffeln      f  pomme_de_terre/pommes_de_terre
carrot      f  carrot/carrots        f  Karotte/Karotten          f  carotte/carottes
pizza       f  pizza/pizzas          f  Pizza/Pizzen              f  pizza/pizzas
bread       m  bread/-               n  Brot/-                    m  pain/-
rice        m  rice/-                m  Reis/-                    m  riz/-
cheese      m  cheese/-              m  Käse/-                    m  fromage/-
sugar       m  sugar/-               m  Zucker/-                  m  sucre/-
flour       m  flour/-               n  Mehl/-                    f  farine/-
butter      m  butter/-              f  Butter/-                  m  beurre/-
soup        m  soup/-                f  Suppe/-                   f  soupe/-
milk        d  milk/-                f  Milch/-                   m  lait/-
water       d  water/-               n  Wasser/-                  f  eau/-
coffee      d  coffee/-              m  Kaffee/-                  m  café/-
tea         d  tea/-                 m  Tee/-                     m  thé/-
juice       d  juice/-               m  Saft/-                    m  jus/-
wine        d  wine/-                m  Wein/-                    m  vin/-
park        l  park/parks            m  Park/Parks                m  parc/parcs
garden      l  garden/gardens        m  Garten/Gärten             m  jardin/jardins
kitchen     l  kitchen/kitchens      f  Küche/Küchen              f  cuisine/cuisines
school      l  school/schools        f  Schule/Schulen            f  école/écoles
station     l  station/stations      m  Bahnhof/Bahnhöfe          f  gare/gares
supermarket l  supermarket/supermarkets m Supermarkt/Supermärkte  m  supermarché/supermarchés
museum      l  museum/museums        n  Museum/Museen             m  musée/musées
library     l  library/libraries     f  Bibliothek/Bibliotheken   f  bibliothèque/bibliothèques
office      l  office/offices        n  Büro/Büros                m  bureau/bureaux
market      l  market/markets        m  Markt/Märkte              m  marché/marchés
restaurant  l  restaurant/restaurants n Restaurant/Restaurants    m  restaurant/restaurants
cinema      l  cinema/cinemas        n  Kino/Kinos                m  cinéma/cinémas
bakery      l  bakery/bakeries       f  Bäckerei/Bäckereien       f  boulangerie/boulangeries
hospital    l  hospital/hospitals    n  Krankenhaus/Krankenhäuser m  hôpital/hôpitaux
beach       l  beach/beaches         m  Strand/Strände            f  plage/plages
kilogram    u  kilogram/kilograms    n  Kilogramm/Kilogramm       m  kilo/kilos
litre       u  litre/litres          m  Liter/Liter               m  litre/litres
piece       u  piece/pieces          n  Stück/Stück               m  morceau/morceaux
""")

# Prepositions of places: English at, German at (+dat) and to (in/an/auf + acc, zu + dat), French
# at and to (a contracts: au, a la, a l').
_PLACES = {k: tuple(v.split()) for k, v in {
    "park": "in in in dans à", "garden": "in in in dans dans", "kitchen": "in in in dans dans",
    "school": "at in zu à à", "station": "at an zu à à", "supermarket": "at in in à à",
    "museum": "in in in à à", "library": "in in in à à", "office": "at in in à à",
    "market": "at auf auf à à", "restaurant": "at in in à à", "cinema": "at in in à à",
    "bakery": "at in zu à à", "hospital": "at in in à à", "beach": "at an an à à"}.items()}
_CITY_PREPS = ("in", "in", "nach", "à", "à")
_CITIES = {k: tuple(v.split("/")) for k, v in {
    "berlin": "Berlin/Berlin/Berlin", "paris": "Paris/Paris/Paris", "london": "London/London/Londres",
    "rome": "Rome/Rom/Rome", "vienna": "Vienna/Wien/Vienne", "hamburg": "Hamburg/Hamburg/Hambourg",
    "munich": "Munich/München/Munich", "madrid": "Madrid/Madrid/Madrid"}.items()}
# No name ends in s, x or z, so the German genitive is always name + s (Annas, Toms).
_NAMES = {"Anna": "f", "Emma": "f", "Sophie": "f", "Julia": "f", "Laura": "f", "Maria": "f",
          "Tom": "m", "Paul": "m", "Peter": "m", "David": "m", "Leon": "m", "Oliver": "m"}
# What one finds where ("In the garden there are three trees").
_EXIST = {k: v.split() for k, v in {
    "garden": "tree flower bird dog cat ball", "park": "tree flower bird dog child",
    "kitchen": "table chair cup glass bottle lamp apple egg cake bread milk water",
    "library": "book table chair computer student", "office": "computer table chair lamp phone",
    "supermarket": "apple pear orange banana tomato potato carrot egg bread milk juice wine cheese",
    "market": "apple pear orange banana tomato potato carrot cheese flower",
    "school": "child teacher book computer", "museum": "photo", "restaurant": "table chair cook"}.items()}
# Which measures go with which substance: five kilograms of apples, two glasses of water.
_UNITS = {k: v.split() for k, v in {
    "apple": "kilogram", "pear": "kilogram", "orange": "kilogram", "tomato": "kilogram",
    "banana": "kilogram", "potato": "kilogram", "carrot": "kilogram", "rice": "kilogram",
    "sugar": "kilogram", "flour": "kilogram", "cheese": "kilogram piece", "butter": "kilogram piece",
    "bread": "piece", "cake": "piece", "milk": "litre bottle glass", "water": "litre bottle glass",
    "juice": "litre bottle glass", "wine": "litre bottle glass", "coffee": "cup", "tea": "cup"}.items()}


class Adj(NamedTuple):
    en: str
    de: str  # predicative
    de_stem: str  # declined: teuer -> teur-e
    fr: tuple[str, ...]  # ms fs mp fp [ms before a vowel: bel, nouvel, vieil]
    pre: bool  # French position: before the noun (grand, petit, bon ...) or after
    cls: str  # noun classes it fits


def _adjs(table: str) -> dict[str, Adj]:
    out = {}
    for line in table.strip().splitlines():
        en, de, fr, pos, cls = line.split(maxsplit=4)
        pred, _, stem = de.partition("/")
        out[en] = Adj(en, pred, stem or pred, tuple(fr.split("/")), pos == "pre", cls.replace(" ", ""))
    return out


_ADJS = _adjs("""
big        groß          grand/grande/grands/grandes                 pre   t a l
small      klein         petit/petite/petits/petites                 pre   t a l p f
old        alt           vieux/vieille/vieux/vieilles/vieil          pre   p a t l
new        neu           nouveau/nouvelle/nouveaux/nouvelles/nouvel  pre   t l
young      jung          jeune/jeune/jeunes/jeunes                   pre   p a
good       gut           bon/bonne/bons/bonnes                       pre   p t f
beautiful  schön         beau/belle/beaux/belles/bel                 pre   t l a
pretty     hübsch        joli/jolie/jolis/jolies                     pre   t l
red        rot           rouge/rouge/rouges/rouges                   post  t f
blue       blau          bleu/bleue/bleus/bleues                     post  t
green      grün          vert/verte/verts/vertes                     post  t f
black      schwarz       noir/noire/noirs/noires                     post  t a
white      weiß          blanc/blanche/blancs/blanches               post  t a
yellow     gelb          jaune/jaune/jaunes/jaunes                   post  t f
expensive  teuer/teur    cher/chère/chers/chères                     post  t d
heavy      schwer        lourd/lourde/lourds/lourdes                 post  t
fresh      frisch        frais/fraîche/frais/fraîches                post  f m d
cold       kalt          froid/froide/froids/froides                 post  m d
hot        heiß          chaud/chaude/chauds/chaudes                 post  m d
friendly   freundlich    aimable/aimable/aimables/aimables           post  p a
happy      glücklich     heureux/heureuse/heureux/heureuses          post  p
tired      müde/müd      fatigué/fatiguée/fatigués/fatiguées         post  p a
clean      sauber        propre/propre/propres/propres               post  t l
dirty      schmutzig     sale/sale/sales/sales                       post  t
""")


class Verb(NamedTuple):
    en: tuple[str, str, str]  # base, 3rd singular, past
    de_inf: str
    de: tuple[str, ...]  # ich du er wir sie (without the separable particle)
    de_particle: str
    de_part: str
    de_sein: bool  # perfect with sein
    fr_inf: str
    fr: tuple[str, ...]  # je tu il nous ils
    fr_part: str
    fr_etre: bool  # passé composé with être (the participle agrees with the subject)
    frame: str  # a: accusative object, d: dative object (French direct), m: motion, s: that-clause,
    #             c: count to N, p: costs a price
    subj: str  # classes of subjects
    objs: tuple[str, ...]  # noun keys (classes expanded), "name" and "city"
    flags: str  # b bare objects, q quantities, r optional recipient, R recipient, x stative (no
    #             perfect, no time adverbial), y no modal, k negated only with a definite object


def _v(en: str, de: str, fr: str, frame: str, subj: str, objs: str, flags: str = "") -> Verb:
    """de and fr: infinitive, five present forms, participle; "*" marks sein / etre, "|" a particle."""
    de_inf, *de_forms, de_part = de.split()
    fr_inf, *fr_forms, fr_part = fr.split()
    particle, _, stem = de_inf.rpartition("|")
    keys: list[str] = []
    for o in objs.split():
        if len(o) == 1:
            keys += [k for k, n in _NOUNS.items() if n.cls == o] + (["name"] if o == "p" else [])
        else:
            keys.append(o)
    return Verb(tuple(w.replace("_", " ") for w in en.split()), particle + stem, tuple(de_forms), particle,
                de_part.lstrip("*"), de_part.startswith("*"), fr_inf, tuple(fr_forms), fr_part.lstrip("*"),
                fr_part.startswith("*"), frame, subj, tuple(keys), flags)


_VERBS = {
    "buy": _v("buy buys bought", "kaufen kaufe kaufst kauft kaufen kaufen gekauft",
              "acheter achète achètes achète achetons achètent acheté", "a", "p", "t f m d", "bq"),
    "sell": _v("sell sells sold", "verkaufen verkaufe verkaufst verkauft verkaufen verkaufen verkauft",
               "vendre vends vends vend vendons vendent vendu", "a", "p", "t f a", "br"),
    "eat": _v("eat eats ate", "essen esse isst isst essen essen gegessen",
              "manger mange manges mange mangeons mangent mangé", "a", "pa", "f m", "bq"),
    "drink": _v("drink drinks drank", "trinken trinke trinkst trinkt trinken trinken getrunken",
                "boire bois bois boit buvons boivent bu", "a", "pa", "d", "bq"),
    "read": _v("read reads read", "lesen lese liest liest lesen lesen gelesen",
               "lire lis lis lit lisons lisent lu", "a", "p", "book letter newspaper"),
    "write": _v("write writes wrote", "schreiben schreibe schreibst schreibt schreiben schreiben geschrieben",
                "écrire écris écris écrit écrivons écrivent écrit", "a", "p", "letter", "r"),
    "see": _v("see sees saw", "sehen sehe siehst sieht sehen sehen gesehen",
              "voir vois vois voit voyons voient vu", "a", "pa", "p a t l", "b"),
    "find": _v("find finds found", "finden finde findest findet finden finden gefunden",
               "trouver trouve trouves trouve trouvons trouvent trouvé", "a", "pa", "t a", "b"),
    "seek": _v("look_for looks_for looked_for", "suchen suche suchst sucht suchen suchen gesucht",
               "chercher cherche cherches cherche cherchons cherchent cherché", "a", "pa", "t a p", "b"),
    "open": _v("open opens opened", "öffnen öffne öffnest öffnet öffnen öffnen geöffnet",
               "ouvrir ouvre ouvres ouvre ouvrons ouvrent ouvert", "a", "p", "door window box bottle letter bag"),
    "close": _v("close closes closed", "schließen schließe schließt schließt schließen schließen geschlossen",
                "fermer ferme fermes ferme fermons ferment fermé", "a", "p", "door window box bag"),
    "wash": _v("wash washes washed", "waschen wasche wäschst wäscht waschen waschen gewaschen",
               "laver lave laves lave lavons lavent lavé", "a", "p", "car shirt dog cup glass bicycle"),
    "repair": _v("repair repairs repaired",
                 "reparieren repariere reparierst repariert reparieren reparieren repariert",
                 "réparer répare répares répare réparons réparent réparé", "a", "p",
                 "car bicycle computer clock lamp phone chair table door"),
    "carry": _v("carry carries carried", "tragen trage trägst trägt tragen tragen getragen",
                "porter porte portes porte portons portent porté", "a", "p", "bag box chair table bottle ball"),
    "take": _v("take takes took", "nehmen nehme nimmst nimmt nehmen nehmen genommen",
               "prendre prends prends prend prenons prennent pris", "a", "p", "t f"),
    "love": _v("love loves loved", "lieben liebe liebst liebt lieben lieben geliebt",
               "aimer aime aimes aime aimons aiment aimé", "a", "p", "p a", "kxy"),
    "meet": _v("meet meets met", "treffen treffe triffst trifft treffen treffen getroffen",
               "rencontrer rencontre rencontres rencontre rencontrons rencontrent rencontré", "a", "p", "p"),
    "visit": _v("visit visits visited", "besuchen besuche besuchst besucht besuchen besuchen besucht",
                "visiter visite visites visite visitons visitent visité", "a", "p",
                "museum park market library city"),
    "order": _v("order orders ordered", "bestellen bestelle bestellst bestellt bestellen bestellen bestellt",
                "commander commande commandes commande commandons commandent commandé", "a", "p", "f m d", "bq"),
    "cook": _v("cook cooks cooked", "kochen koche kochst kocht kochen kochen gekocht",
               "préparer prépare prépares prépare préparons préparent préparé", "a", "p",
               "soup rice potato egg carrot", "b"),
    "forget": _v("forget forgets forgot", "vergessen vergesse vergisst vergisst vergessen vergessen vergessen",
                 "oublier oublie oublies oublie oublions oublient oublié", "a", "p",
                 "key umbrella bag book ticket phone hat coat"),
    "clean": _v("clean cleans cleaned", "putzen putze putzt putzt putzen putzen geputzt",
                "nettoyer nettoie nettoies nettoie nettoyons nettoient nettoyé", "a", "p",
                "kitchen car window table shoe"),
    "call": _v("call calls called", "an|rufen rufe rufst ruft rufen rufen angerufen",
               "appeler appelle appelles appelle appelons appellent appelé", "a", "p", "p"),
    "invite": _v("invite invites invited", "ein|laden lade lädst lädt laden laden eingeladen",
                 "inviter invite invites invite invitons invitent invité", "a", "p", "p"),
    "watch": _v("watch watches watched", "an|sehen sehe siehst sieht sehen sehen angesehen",
                "regarder regarde regardes regarde regardons regardent regardé", "a", "p", "film photo"),
    "bring": _v("bring brings brought", "bringen bringe bringst bringt bringen bringen gebracht",
                "apporter apporte apportes apporte apportons apportent apporté", "a", "p", "t f", "r"),
    "send": _v("send sends sent", "schicken schicke schickst schickt schicken schicken geschickt",
               "envoyer envoie envoies envoie envoyons envoient envoyé", "a", "p", "letter photo", "r"),
    "give": _v("give gives gave", "geben gebe gibst gibt geben geben gegeben",
               "donner donne donnes donne donnons donnent donné", "a", "p", "t f", "R"),
    "show": _v("show shows showed", "zeigen zeige zeigst zeigt zeigen zeigen gezeigt",
               "montrer montre montres montre montrons montrent montré", "a", "p", "t", "R"),
    "have": _v("have has had", "haben habe hast hat haben haben gehabt",
               "avoir ai as a avons ont eu", "a", "p", "t a", "bx"),
    "help": _v("help helps helped", "helfen helfe hilfst hilft helfen helfen geholfen",
               "aider aide aides aide aidons aident aidé", "d", "p", "p"),
    "thank": _v("thank thanks thanked", "danken danke dankst dankt danken danken gedankt",
                "remercier remercie remercies remercie remercions remercient remercié", "d", "p", "p"),
    "follow": _v("follow follows followed", "folgen folge folgst folgt folgen folgen *gefolgt",
                 "suivre suis suis suit suivons suivent suivi", "d", "pa", "p a"),
    "go": _v("go goes went", "gehen gehe gehst geht gehen gehen *gegangen",
             "aller vais vas va allons vont *allé", "m", "p", "l"),
    "come": _v("come comes came", "kommen komme kommst kommt kommen kommen *gekommen",
               "venir viens viens vient venons viennent *venu", "m", "p", "l city"),
    "travel": _v("travel travels travelled", "reisen reise reist reist reisen reisen *gereist",
                 "voyager voyage voyages voyage voyageons voyagent voyagé", "m", "p", "city"),
    "say": _v("say says said", "sagen sage sagst sagt sagen sagen gesagt",
              "dire dis dis dit disons disent dit", "s", "p", "", "xy"),
    "think": _v("think thinks thought", "denken denke denkst denkt denken denken gedacht",
                "penser pense penses pense pensons pensent pensé", "s", "p", "", "xy"),
    "know": _v("know knows knew", "wissen weiß weißt weiß wissen wissen gewusst",
               "savoir sais sais sait savons savent su", "s", "p", "", "xy"),
    "count": _v("count counts counted", "zählen zähle zählst zählt zählen zählen gezählt",
                "compter compte comptes compte comptons comptent compté", "c", "p", "", "xy"),
    "cost": _v("cost costs cost", "kosten koste kostest kostet kosten kosten gekostet",
               "coûter coûte coûtes coûte coûtons coûtent coûté", "p", "tfmd", "", "xy"),
}

_MODALS = {  # English, German ich du er wir sie, French je tu il nous ils
    "want": ("want", "will willst will wollen wollen".split(), "veux veux veut voulons veulent".split()),
    "can": ("can", "kann kannst kann können können".split(), "peux peux peut pouvons peuvent".split()),
    "must": ("must", "muss musst muss müssen müssen".split(), "dois dois doit devons doivent".split()),
}
_EN_BE = ("am", "are", "is", "are", "are")
_DE_SEIN = ("bin", "bist", "ist", "sind", "sind")
_DE_HABEN = _VERBS["have"].de
_FR_ETRE = ("suis", "es", "est", "sommes", "sont")
_FR_AVOIR = _VERBS["have"].fr


class Pron(NamedTuple):
    person: int  # index into the five verb forms
    en: tuple[str, str, str]  # subject, object, possessive
    de: tuple[str, str, str, str]  # nominative, accusative, dative, possessive stem
    fr: tuple[str, str, tuple[str, str, str]]  # subject, stressed, possessive (m f pl)
    fg: str  # French gender of agreement ("" for I, you, we: unknown, so never generated)


_PRON = {
    "I": Pron(0, ("I", "me", "my"), ("ich", "mich", "mir", "mein"), ("je", "moi", ("mon", "ma", "mes")), ""),
    "you": Pron(1, ("you", "you", "your"), ("du", "dich", "dir", "dein"), ("tu", "toi", ("ton", "ta", "tes")), ""),
    "he": Pron(2, ("he", "him", "his"), ("er", "ihn", "ihm", "sein"), ("il", "lui", ("son", "sa", "ses")), "m"),
    "she": Pron(2, ("she", "her", "her"), ("sie", "sie", "ihr", "ihr"), ("elle", "elle", ("son", "sa", "ses")), "f"),
    "we": Pron(3, ("we", "us", "our"), ("wir", "uns", "uns", "unser"), ("nous", "nous", ("notre", "notre", "nos")), ""),
    "they": Pron(4, ("they", "them", "their"), ("sie", "sie", "ihnen", "ihr"),
                 ("ils", "eux", ("leur", "leur", "leurs")), "m"),
}
_POSS = {p.en[2]: p for p in _PRON.values()}  # my -> I ...

_MONTHS = (("January", "Januar", "janvier"), ("February", "Februar", "février"), ("March", "März", "mars"),
           ("April", "April", "avril"), ("May", "Mai", "mai"), ("June", "Juni", "juin"),
           ("July", "Juli", "juillet"), ("August", "August", "août"), ("September", "September", "septembre"),
           ("October", "Oktober", "octobre"), ("November", "November", "novembre"),
           ("December", "Dezember", "décembre"))
_DAYS = (("Monday", "Montag", "lundi"), ("Tuesday", "Dienstag", "mardi"), ("Wednesday", "Mittwoch", "mercredi"),
         ("Thursday", "Donnerstag", "jeudi"), ("Friday", "Freitag", "vendredi"),
         ("Saturday", "Samstag", "samedi"), ("Sunday", "Sonntag", "dimanche"))
_TIMES: dict[str, tuple[str, str, str, bool]] = {  # en, de, fr, past
    "every_day": ("every day", "jeden Tag", "tous les jours", False),
    "every_morning": ("every morning", "jeden Morgen", "tous les matins", False),
    "every_evening": ("every evening", "jeden Abend", "tous les soirs", False),
    **{f"every_{en.lower()}": (f"every {en}", f"jeden {de}", f"tous les {fr}s", False) for en, de, fr in _DAYS},
    "yesterday": ("yesterday", "gestern", "hier", True),
    "last_week": ("last week", "letzte Woche", "la semaine dernière", True),
    "last_year": ("last year", "letztes Jahr", "l'année dernière", True),
}


# ------------------------------------------------------------------------------------- numbers

_EN_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
             "fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_DE_SMALL = ("null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn "
             "fünfzehn sechzehn siebzehn achtzehn neunzehn").split()
_DE_TENS = "_ _ zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()
_FR_SMALL = ("zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze "
             "seize dix-sept dix-huit dix-neuf").split()
_FR_TENS = "_ _ vingt trente quarante cinquante soixante".split()


def _en_number(n: int) -> str:
    """British: one hundred and five, two thousand and twenty-one."""
    if n < 20:
        return _EN_SMALL[n]
    if n < 100:
        t, u = divmod(n, 10)
        return _EN_TENS[t] + (f"-{_EN_SMALL[u]}" if u else "")
    head, r = (f"{_EN_SMALL[n // 100]} hundred", n % 100) if n < 1000 else \
        (f"{_en_number(n // 1000)} thousand", n % 1000)
    return head if not r else f"{head} and {_en_number(r)}" if r < 100 else f"{head} {_en_number(r)}"


def _de_number(n: int) -> str:
    """One word; the ones before the tens (einundzwanzig); hundert / tausend without ein."""
    if n < 20:
        return _DE_SMALL[n]
    if n < 100:
        t, u = divmod(n, 10)
        return (("ein" if u == 1 else _DE_SMALL[u]) + "und" if u else "") + _DE_TENS[t]
    if n < 1000:
        h, r = divmod(n, 100)
        head = ("" if h == 1 else _DE_SMALL[h]) + "hundert"
    else:
        h, r = divmod(n, 1000)
        head = ("" if h == 1 else _de_number(h).removesuffix("s")) + "tausend"
        if 100 <= r < 200:
            return head + "ein" + _de_number(r)  # tausendeinhundert
    return head + (_de_number(r) if r else "")


def _fr_below_100(n: int) -> str:
    if n < 20:
        return _FR_SMALL[n]
    t, u = divmod(n, 10)
    if t in (7, 9):  # soixante-dix ... soixante-dix-neuf, quatre-vingt-dix ... quatre-vingt-dix-neuf
        return "soixante et onze" if n == 71 else f"{'soixante' if t == 7 else 'quatre-vingt'}-{_FR_SMALL[u + 10]}"
    if t == 8:
        return f"quatre-vingt-{_FR_SMALL[u]}" if u else "quatre-vingts"
    return _FR_TENS[t] + ("" if not u else " et un" if u == 1 else f"-{_FR_SMALL[u]}")


def _fr_number(n: int, final: bool = True) -> str:
    """Traditional spelling; vingts / cents take their s only at the end (quatre-vingt mille)."""
    if n < 100:
        s = _fr_below_100(n)
        return s if final else s.removesuffix("vingts") + "vingt" if s.endswith("vingts") else s
    if n < 1000:
        h, r = divmod(n, 100)
        head = "cent" if h == 1 else f"{_FR_SMALL[h]} cent"
        return f"{head} {_fr_number(r, final)}" if r else head + ("s" if h > 1 and final else "")
    h, r = divmod(n, 1000)
    head = "mille" if h == 1 else f"{_fr_number(h, final=False)} mille"
    return f"{head} {_fr_number(r, final)}" if r else head


def number(n: int, lang: str, feminine: bool = False) -> str:
    """`n` (0 <= n < 1_000_000) in words; German standalone (eins); French feminine makes un une."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number {n} is outside 0..999999")
    if lang == "en":
        return _en_number(n)
    if lang == "de":
        return _de_number(n)
    s = _fr_number(n)
    return s + "e" if feminine and (s == "un" or s.endswith((" un", "-un"))) else s


def _numeral(n: int, digits: bool, lang: str, feminine: bool = False, attributive: bool = False) -> str:
    if digits:
        return str(n)
    s = number(n, lang, feminine)
    return s[:-1] if attributive and lang == "de" and s.endswith("eins") else s  # hundertein Bücher


def _time(t: Time, lang: str) -> str:
    i = LANGS.index(lang)
    if isinstance(t, tuple):
        d, m, y = t
        month = _MONTHS[m - 1][i]
        return (f"on {d} {month} {y}", f"am {d}. {month} {y}", f"le {'1er' if d == 1 else d} {month} {y}")[i]
    if isinstance(t, int):
        return (f"in {t}", f"im Jahr {t}", f"en {t}")[i]
    return _TIMES[t][i]


def _past(t: Time) -> bool:
    return t is not None and (not isinstance(t, str) or _TIMES[t][3])


def _price(num: int | str, digits: bool, lang: str) -> str:
    if isinstance(num, str):  # 3.50 euros, 3,50 Euro, 3,50 euros
        return num + " euros" if lang == "en" else num.replace(".", ",") + (" Euro" if lang == "de" else " euros")
    if num == 1 and not digits:
        return {"en": "one euro", "de": "einen Euro", "fr": "un euro"}[lang]
    unit = "Euro" if lang == "de" else "euro" if num == 1 else "euros"
    return f"{_numeral(num, digits, lang, attributive=True)} {unit}"


def _age(n: int, digits: bool, lang: str) -> str:
    """23 years old, 23 Jahre alt, 23 ans (French: avoir 23 ans)."""
    one = n == 1
    if lang == "en":
        return f"{_numeral(n, digits, 'en')} year{'' if one else 's'} old"
    if lang == "de":
        return f"{'ein' if one and not digits else _numeral(n, digits, 'de')} {'Jahr' if one else 'Jahre'} alt"
    return f"{_numeral(n, digits, 'fr')} an{'' if one else 's'}"


# ------------------------------------------------------------------------------------- helpers

def _person(np: NP | None) -> int:
    """Index of the verb form: 0 ich/je ... 2 third singular, 4 third plural."""
    if np is None:
        return 2
    if np.head in _PRON:
        return _PRON[np.head].person
    return 4 if np.n > 1 else 2


def _definite(np: NP) -> bool:
    return np.det not in ("a", "", "num") and not np.unit


def _many(np: NP) -> bool:
    """Whether the substance of a quantity is plural: kilograms of apples, but pieces of cake."""
    return _NOUNS[np.head].count and np.unit != "piece"


def _fr_gender(np: NP) -> str:
    h = np.head
    return _PRON[h].fg if h in _PRON else _NAMES[h] if h in _NAMES else _NOUNS[h].fg


_VOWEL = "aeiouyéèêàâîôûœh"  # French elision before a vowel or a mute h (the lexicon has no aspirate h)


def _vowel(word: str) -> bool:
    return word[:1].lower() in _VOWEL


def _capitalise(s: str) -> str:
    return s[0].upper() + s[1:]


# ------------------------------------------------------------------------------------- English

def _en_np(np: NP, obj: bool = False, no: bool = False) -> str:
    h = np.head
    if h in _PRON:
        return _PRON[h].en[1 if obj else 0]
    if h in _NAMES:
        return h
    if h in _CITIES:
        return _CITIES[h][0]
    nn = _NOUNS[np.unit or h]
    plural = np.n > 1
    if no:
        det = "no"
    elif np.of is not None:
        det = _en_np(np.of)
        det += "'" if np.of.n > 1 and det.endswith("s") else "'s"
    else:
        det = _numeral(np.n, np.digits, "en") if np.det == "num" else _POSS[np.det].en[2] if np.det in _POSS \
            else np.det  # the, a, ""
    adj = _ADJS[np.adj].en if np.adj else ""
    if np.unit:
        s = _NOUNS[h]
        return " ".join(w for w in (det, nn.en[plural], "of", adj, s.en[_many(np)]) if w)
    return " ".join(w for w in (det, adj, nn.en[plural]) if w)


def _en_place(np: NP, to: bool) -> str:
    prep = "to" if to else _CITY_PREPS[0] if np.head in _CITIES else _PLACES[np.head][0]
    return f"{prep} {_en_np(np)}"


def _en_clause(c: Clause, mode: str) -> str:
    """mode: main (declarative), sub (no fronting), ask (yes/no question, do-support)."""
    p = _person(c.subj)
    third = p == 2
    ask = mode == "ask"
    time = _time(c.time, "en") if c.time is not None else ""
    front = time + "," if c.front and time and mode == "main" else ""
    rest: list[str] = []
    if c.kind == "exist":
        subj, aux, verb = "there", "are" if c.obj.n > 1 else "is", ""
        rest = [_en_np(c.obj, obj=True, no=c.neg), _en_place(c.place, False)]
    elif c.kind in ("be", "age"):
        subj, aux, verb = _en_np(c.subj), _EN_BE[p] + (" not" if c.neg else ""), ""
        rest = [_ADJS[c.adj].en if c.kind == "be" else _age(c.num, c.digits, "en")]
    else:
        v = _VERBS[c.verb]
        subj = _en_np(c.subj)
        base = v.en[0]
        past = _past(c.time)
        do = "did" if past else "does" if third else "do"
        if c.modal in ("can", "must"):
            aux, verb = ("cannot" if c.neg else c.modal), base
        elif ask or c.neg:
            aux = do + (" not" if c.neg else "")
            verb = f"want to {base}" if c.modal == "want" else base
        else:
            aux = ""
            verb = (f"{'wants' if third else 'want'} to {base}" if c.modal == "want" else
                    v.en[2] if past else v.en[1] if third else base)
        if c.obj is not None:
            rest.append(_en_np(c.obj, obj=True))
        if c.to is not None:
            rest.append("to " + _en_np(c.to, obj=True))
        if c.dest is not None:
            rest.append(_en_place(c.dest, True))
        if v.frame == "c":
            rest.append("to " + _numeral(c.num, c.digits, "en"))
        if v.frame == "p":
            rest.append(_price(c.num, c.digits, "en"))
    if c.with_ is not None:
        rest.append("with " + _en_np(c.with_, obj=True))
    if c.place is not None and c.kind != "exist":
        rest.append(_en_place(c.place, False))
    if time and not front:
        rest.append(time)
    head = [aux, subj, verb] if ask else [front, subj, aux, verb]
    return re.sub(r"\ba (?=[aeiou])", "an ", " ".join(w for w in head + rest if w))


# -------------------------------------------------------------------------------------- German

_CASES = ("nom", "acc", "dat", "gen")
_DE_DEF = {"nom": ("der", "die", "das", "die"), "acc": ("den", "die", "das", "die"),
           "dat": ("dem", "der", "dem", "den"), "gen": ("des", "der", "des", "der")}
_DE_EIN = {"nom": ("", "e", "", "e"), "acc": ("en", "e", "", "e"),  # ein, kein, mein ... endings
           "dat": ("em", "er", "em", "en"), "gen": ("es", "er", "es", "er")}
_DE_WEAK = {"nom": ("e", "e", "e", "en"), "acc": ("en", "e", "e", "en"),
            "dat": ("en",) * 4, "gen": ("en",) * 4}
_DE_STRONG = {"nom": ("er", "e", "es", "e"), "acc": ("en", "e", "es", "e"),
              "dat": ("em", "er", "em", "en"), "gen": ("en", "er", "en", "er")}
_DE_CONTRACT = {("in", "dem"): "im", ("in", "das"): "ins", ("an", "dem"): "am", ("an", "das"): "ans",
                ("zu", "dem"): "zum", ("zu", "der"): "zur"}


def _de_noun(nn: Noun, case: str, plural: bool) -> str:
    if plural:
        pl = nn.de[1]
        return pl + "n" if case == "dat" and pl[-1] not in "ns" else pl  # den Kindern, den Autos
    return nn.de[0] if case == "nom" else nn.de_gen if case == "gen" else nn.de_obl


def _de_det(np: NP, case: str, slot: int, kein: bool) -> tuple[str, dict[str, tuple[str, ...]]]:
    """The determiner and the adjective declension it calls for (weak, strong; mixed via ein-words)."""
    if np.of is not None and np.of.head in _NAMES:
        return np.of.head + "s", _DE_STRONG  # Annas rotes Auto
    if np.det == "the":
        return _DE_DEF[case][slot], _DE_WEAK
    if np.det in ("", "num") and not kein:
        return (_numeral(np.n, np.digits, "de", attributive=True) if np.det == "num" else ""), _DE_STRONG
    stem = "kein" if kein else "ein" if np.det == "a" else _POSS[np.det].de[3]
    end = _DE_EIN[case][slot]
    return stem + end, _DE_WEAK if end else _DE_STRONG


def _de_np(np: NP, case: str, kein: bool = False) -> str:
    """`kein` turns an indefinite or bare noun phrase into its negation (kein Buch, keine Äpfel)."""
    h = np.head
    if h in _PRON:
        return _PRON[h].de[_CASES.index(case)]
    if h in _NAMES:
        return h + "s" if case == "gen" else h
    if h in _CITIES:
        return _CITIES[h][1]
    nn = _NOUNS[np.unit or h]
    plural = np.n > 1
    slot = 3 if plural else "mfn".index(nn.g)
    det, table = _de_det(np, case, slot, kein)
    words = [det]
    if np.unit:  # the substance stands in the same case, without article, adjective strong
        s = _NOUNS[h]
        words.append(_de_noun(nn, case, plural))
        if np.adj:
            words.append(_ADJS[np.adj].de_stem + _DE_STRONG[case][3 if _many(np) else "mfn".index(s.g)])
        words.append(_de_noun(s, case, _many(np)))
    else:
        if np.adj:
            words.append(_ADJS[np.adj].de_stem + table[case][slot])
        words.append(_de_noun(nn, case, plural))
    if np.of is not None and np.of.head not in _NAMES:
        words.append(_de_np(np.of, "gen"))
    return " ".join(w for w in words if w)


def _de_pp(prep: str, np: NP, case: str) -> str:
    s = _de_np(np, case)
    art, _, rest = s.partition(" ")
    short = _DE_CONTRACT.get((prep, art)) if np.det == "the" and rest else None
    return f"{short} {rest}" if short else f"{prep} {s}"


def _de_place(np: NP, to: bool) -> str:
    if np.head in _CITIES:
        return f"{_CITY_PREPS[2 if to else 1]} {_de_np(np, 'dat')}"
    prep = _PLACES[np.head][2 if to else 1]
    return _de_pp(prep, np, "acc" if to and prep != "zu" else "dat")


def _de_clause(c: Clause, mode: str) -> str:
    """Verb-second (main), verb-first (ask), verb-final (sub). The middle field runs: definite
    objects (dative before accusative), time, with, place, indefinite objects, nicht, direction or
    predicate; then the non-finite verb and particle."""
    p = _person(c.subj)
    time = _time(c.time, "de") if c.time is not None else ""
    first = time if c.front and time and mode == "main" else ""
    particle = nonfinite = ""
    early: list[str] = []
    late: list[str] = []
    final: list[str] = []
    nicht = c.neg
    if c.kind == "exist":
        subj, finite = "es", "gibt"
        kein = c.neg
        nicht = False
        late.append(_de_np(c.obj, "acc", kein=kein))
        where = _de_place(c.place, False)
        if mode == "main":
            first = where
        else:
            early.append(where)
    elif c.kind in ("be", "age"):
        subj, finite = _de_np(c.subj, "nom"), _DE_SEIN[p]
        final.append(_ADJS[c.adj].de if c.kind == "be" else _age(c.num, c.digits, "de"))
    else:
        v = _VERBS[c.verb]
        subj = _de_np(c.subj, "nom")
        if _past(c.time):
            finite, nonfinite = (_DE_SEIN if v.de_sein else _DE_HABEN)[p], v.de_part
        elif c.modal:
            finite, nonfinite = _MODALS[c.modal][1][p], v.de_inf
        else:
            finite, particle = v.de[p], v.de_particle
        objs = [(c.to, "dat"), (c.obj, "dat" if v.frame == "d" else "acc")]
        for np, case in objs:
            if np is None:
                continue
            kein = c.neg and np is c.obj and np.det in ("a", "") and v.frame == "a"
            nicht = nicht and not kein
            (early if _definite(np) else late).append(_de_np(np, case, kein=kein))
        if c.dest is not None:
            final.append(_de_place(c.dest, True))
        if v.frame == "c":
            final.append("bis " + _numeral(c.num, c.digits, "de"))
        if v.frame == "p":
            final.append(_price(c.num, c.digits, "de"))
    middle = early + [time if first != time else ""]
    if c.with_ is not None:
        middle.append("mit " + _de_np(c.with_, "dat"))
    if c.place is not None and c.kind != "exist":
        middle.append(_de_place(c.place, False))
    middle += late + (["nicht"] if nicht else []) + final
    if mode == "sub":
        verbs = [particle + finite] if particle else [nonfinite, finite]
        words = [subj] + middle + verbs
    elif mode == "ask":
        words = [finite, subj] + middle + [nonfinite, particle]
    else:
        words = ([first, finite, subj] if first else [subj, finite]) + middle + [nonfinite, particle]
    return " ".join(w for w in words if w)


# -------------------------------------------------------------------------------------- French

_FR_ELIDE = re.compile(r"\b(je|le|la|ne|que|de|jusque) (?=[" + _VOWEL + "])", re.IGNORECASE)
_FR_CONTRACT = re.compile(r"\b(à|de) (les?) ")


def _fr_fix(s: str) -> str:
    """Elision (l'arbre, qu'il, n'y, j'ai, d'eau), then contraction (au, aux, du, des)."""
    s = _FR_ELIDE.sub(lambda m: m.group(1)[:-1] + "'", s)
    return _FR_CONTRACT.sub(lambda m: {"à le": "au", "à les": "aux", "de le": "du", "de les": "des"}[
        f"{m.group(1)} {m.group(2)}"] + " ", s)


def _fr_adj(a: Adj, fem: bool, plural: bool, before: str) -> str:
    if not fem and not plural and len(a.fr) == 5 and a.pre and _vowel(before):
        return a.fr[4]  # un bel arbre, le nouvel hôpital
    return a.fr[2 * plural + fem]


def _fr_np(np: NP, neg: bool = False) -> str:
    """`neg` turns un / une / des / du into de (pas de livre, pas d'eau)."""
    h = np.head
    if h in _PRON:
        return _PRON[h].fr[1]
    if h in _NAMES:
        return h
    if h in _CITIES:
        return _CITIES[h][2]
    nn = _NOUNS[np.unit or h]
    plural = np.n > 1
    fem = nn.fg == "f"
    noun = nn.fr[plural]
    pre = post = ""
    if np.adj and not np.unit:
        a = _ADJS[np.adj]
        form = _fr_adj(a, fem, plural, noun)
        pre, post = (form, "") if a.pre else ("", form)
    after = pre or noun  # the word after the determiner
    if neg and np.det in ("a", ""):
        det = "de"
    elif np.det == "the":
        det = "les" if plural else "la" if fem else "le"
    elif np.det == "a":
        det = "une" if fem else "un"
    elif np.det == "":
        det = ("de" if pre else "des") if plural else "de la" if fem else "de le"  # de grandes pommes
    elif np.det == "num":
        det = _numeral(np.n, np.digits, "fr", feminine=fem)
    else:
        m, f, pl = _POSS[np.det].fr[2]
        det = pl if plural else f if fem and not _vowel(after) else m  # mon amie, mon école
    words = [det, pre, noun, post]
    if np.unit:
        s = _NOUNS[h]
        spre = spost = ""
        if np.adj:
            a = _ADJS[np.adj]
            form = _fr_adj(a, s.fg == "f", _many(np), s.fr[_many(np)])
            spre, spost = (form, "") if a.pre else ("", form)
        words += ["de", spre, s.fr[_many(np)], spost]
    if np.of is not None:
        words += ["de", _fr_np(np.of)]
    return " ".join(w for w in words if w)


def _fr_place(np: NP, to: bool) -> str:
    prep = _CITY_PREPS[4] if np.head in _CITIES else _PLACES[np.head][4 if to else 3]
    return f"{prep} {_fr_np(np)}"


def _fr_subject(np: NP) -> str:
    return _PRON[np.head].fr[0] if np.head in _PRON else _fr_np(np)


def _fr_agree(word: str, np: NP) -> str:
    """Participle agreement with the subject after être: allée, allés, allées."""
    return word + ("e" if _fr_gender(np) == "f" else "") + ("s" if np.n > 1 or _person(np) == 4 else "")


def _fr_clause(c: Clause, mode: str) -> str:
    """Subject, ne, verb, pas, infinitive or participle, objects, a + recipient, direction, avec,
    place, time. Questions are est-ce que + the statement."""
    p = _person(c.subj)
    time = _time(c.time, "fr") if c.time is not None else ""
    front = time + "," if c.front and time and mode == "main" else ""
    nonfinite = ""
    rest: list[str] = []
    if c.kind == "exist":  # il (n')y a (pas): ne goes before y
        head = ["il", "ne", "y", "a", "pas"] if c.neg else ["il", "y", "a"]
        rest = [_fr_np(c.obj, neg=c.neg), _fr_place(c.place, False)]
    elif c.kind in ("be", "age"):
        subj = _fr_subject(c.subj)
        if c.kind == "be":
            a = _ADJS[c.adj]
            finite = _FR_ETRE[p]
            rest.append(a.fr[2 * (p == 4 or c.subj.n > 1) + (_fr_gender(c.subj) == "f")])
        else:
            finite = _FR_AVOIR[p]
            rest.append(_age(c.num, c.digits, "fr"))
    else:
        v = _VERBS[c.verb]
        subj = _fr_subject(c.subj)
        if _past(c.time):
            finite = (_FR_ETRE if v.fr_etre else _FR_AVOIR)[p]
            nonfinite = _fr_agree(v.fr_part, c.subj) if v.fr_etre else v.fr_part
        elif c.modal:
            finite, nonfinite = _MODALS[c.modal][2][p], v.fr_inf
        else:
            finite = v.fr[p]
        if c.obj is not None:
            rest.append(_fr_np(c.obj, neg=c.neg and v.frame == "a"))
        if c.to is not None:
            rest.append("à " + _fr_np(c.to))
        if c.dest is not None:
            rest.append(_fr_place(c.dest, True))
        if v.frame == "c":
            rest.append("jusque à " + _numeral(c.num, c.digits, "fr"))
        if v.frame == "p":
            rest.append(_price(c.num, c.digits, "fr"))
    if c.with_ is not None:
        rest.append("avec " + _fr_np(c.with_))
    if c.place is not None and c.kind != "exist":
        rest.append(_fr_place(c.place, False))
    if time and not front:
        rest.append(time)
    if c.kind != "exist":
        head = [subj, "ne", finite, "pas", nonfinite] if c.neg else [subj, finite, nonfinite]
    words = [front] + head + rest
    s = " ".join(w for w in words if w)
    return "est-ce que " + s if mode == "ask" else s


# -------------------------------------------------------------------------------------- render

_CLAUSES = {"en": _en_clause, "de": _de_clause, "fr": _fr_clause}
_LINKS = {"because": {"en": " because ", "de": ", weil ", "fr": " parce que "},
          "that": {"en": " that ", "de": ", dass ", "fr": " que "}}


def render(spec: Sentence | Clause, lang: str) -> str:
    """The sentence in `lang` ("en", "de" or "fr"), capitalised and punctuated."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    s = spec if isinstance(spec, Sentence) else Sentence(spec)
    clause = _CLAUSES[lang]
    if s.ask:
        text, end = clause(s.main, "ask"), (" ?" if lang == "fr" else "?")
    else:
        text, end = clause(s.main, "main"), "."
        if s.link:
            text += _LINKS[s.link][lang] + clause(s.sub, "sub")
    if lang == "fr":
        text = _fr_fix(text)
    return _capitalise(text + end)


def split_of(source: str) -> str:
    """The split an English sentence belongs to: a stable hash, so splits never overlap."""
    bucket = zlib.crc32(source.encode("utf-8")) % _BUCKETS
    return SPLITS[1] if bucket == 0 else SPLITS[2] if bucket == 1 else SPLITS[0]


def generate(pair: str, split: str, num_examples: int | None = None, seed: int = 0) -> list[tuple[str, str]]:
    """`num_examples` distinct (English, target) pairs of `split` (default `SIZES[split]`).

    Deterministic in (pair, split, seed); a smaller request is a prefix of a larger one.
    """
    if pair not in PAIRS:
        raise ValueError(f"unknown pair {pair!r}; choose one of {', '.join(PAIRS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    n = SIZES[split] if num_examples is None else num_examples
    if n < 0:
        raise ValueError(f"num_examples must be >= 0, got {n}")
    lang = pair.split("-")[1]
    rng = random.Random(f"{pair}/{split}/{seed}")
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n + 10_000:
            raise RuntimeError(f"could not find {n} distinct {split} sentences")
        spec = _sample(rng)
        en = render(spec, "en")
        if en in seen or split_of(en) != split:
            continue
        seen.add(en)
        out.append((en, render(spec, lang)))
    return out


# ------------------------------------------------------------------------------------- sampling

_BY_CLASS: dict[str, list[str]] = {}
for _k, _n in _NOUNS.items():
    _BY_CLASS.setdefault(_n.cls, []).append(_k)
_ADJ_BY_CLASS = {c: [k for k, a in _ADJS.items() if c in a.cls] for c in "ptfmdla"}
_PERSONAL = ("I", "you", "he", "she", "we", "they")
_NAME_KEYS, _CITY_KEYS, _POSS_KEYS = tuple(_NAMES), tuple(_CITIES), tuple(_POSS)
_MODAL_KEYS, _ADJ_KEYS, _EXIST_KEYS = tuple(_MODALS), tuple(_ADJS), tuple(_EXIST)
_DO_VERBS = [k for k, v in _VERBS.items() if v.frame in "adm"]
_SAY_VERBS = [k for k, v in _VERBS.items() if v.frame == "s"]
_HABITUAL = [k for k, t in _TIMES.items() if not t[3]]
_PAST = [k for k, t in _TIMES.items() if t[3]]


def _count(rng: random.Random) -> int:
    """A plural count that every language can use before a noun (no 101: German hundertein)."""
    r = rng.random()
    n = rng.randint(2, 20) if r < 0.4 else rng.randint(21, 99) if r < 0.85 else rng.randint(100, 2000)
    return n if n % 100 != 1 else n + 1


def _adj(rng: random.Random, cls: str, p: float = 0.3) -> str:
    return rng.choice(_ADJ_BY_CLASS[cls]) if cls in _ADJ_BY_CLASS and rng.random() < p else ""


def _noun_np(rng: random.Random, key: str, dets: str, p_adj: float = 0.3) -> NP:
    """dets: letters t(he) a num(n) b(are) p(ossessive) g(enitive) q(uantity) to choose among."""
    if key == "name":
        return NP(rng.choice(_NAME_KEYS))
    if key == "city":
        return NP(rng.choice(_CITY_KEYS))
    nn = _NOUNS[key]
    allowed = [d for d in dets if (d not in "an" or nn.count) and (d != "q" or key in _UNITS)
               and (d != "g" or nn.cls != "l")]
    d = rng.choice(allowed or ["t"])
    adj = _adj(rng, nn.cls, p_adj)
    if d == "q":
        unit = rng.choice(_UNITS[key])
        if rng.random() < 0.4:
            return NP(key, "a", 1, adj, unit=unit)
        return NP(key, "num", rng.randint(2, 12), adj, unit=unit, digits=rng.random() < 0.3)
    plural = nn.count and rng.random() < 0.3
    if d == "n":
        return NP(key, "num", _count(rng), adj, digits=rng.random() < 0.3)
    if d == "a":
        return NP(key, "a", 1, adj)
    if d == "b":
        return NP(key, "", 2 if nn.count else 1, adj)
    if d == "p":
        return NP(key, rng.choice(_POSS_KEYS), 2 if plural else 1, adj)
    if d == "g":
        owner = _person_np(rng, "t", p_adj=0.0, names=0.4)
        if owner.head != key:  # not "the teacher's teacher"
            return NP(key, "the", 2 if plural else 1, adj, of=owner)
    return NP(key, "the", 2 if plural else 1, adj)


def _person_np(rng: random.Random, dets: str = "ttapg", p_adj: float = 0.25, names: float = 0.35,
               animals: bool = False) -> NP:
    if rng.random() < names:
        return NP(rng.choice(_NAME_KEYS))
    pool = _BY_CLASS["p"] + (_BY_CLASS["a"] if animals else [])
    return _noun_np(rng, rng.choice(pool), dets, p_adj)


def _subject(rng: random.Random, classes: str, mode: str, gendered: bool = False) -> NP:
    """gendered: French agreement needs the subject's gender, so no I / you / we."""
    if rng.random() < 0.22:
        options = ("he", "she", "they") if gendered else _PERSONAL[1:] if mode == "ask" else _PERSONAL
        return NP(rng.choice(options))
    np = _person_np(rng, "ttttapgn", animals="a" in classes and rng.random() < 0.3)
    if np.det == "num":  # a sentence starts with a short number in words
        return NP(np.head, "num", rng.randint(2, 12), np.adj)
    return np


def _do_clause(rng: random.Random, mode: str) -> Clause:
    key = rng.choice(_DO_VERBS)
    v = _VERBS[key]
    past = "x" not in v.flags and rng.random() < 0.3
    modal = "" if past or "y" in v.flags or rng.random() > 0.2 else rng.choice(_MODAL_KEYS)
    neg = mode != "ask" and modal != "must" and rng.random() < 0.2
    subj = _subject(rng, v.subj, mode, gendered=past and v.fr_etre)
    time = None
    if past:
        r = rng.random()
        time = (rng.choice(_PAST) if r < 0.5 else rng.randint(1990, 2024) if r < 0.65 else
                (rng.randint(1, 28), rng.randint(1, 12), rng.randint(1950, 2024)))
    elif not neg and "x" not in v.flags and rng.random() < 0.3:
        time = rng.choice(_HABITUAL)
    obj = to = dest = place = with_ = None
    if v.frame == "m":
        k = rng.choice(v.objs)
        dest = NP(rng.choice(_CITY_KEYS)) if k == "city" else NP(k, adj=_adj(rng, "l", 0.15))
    else:
        k = rng.choice(v.objs)
        if neg:  # negation of definite objects uses nicht / ne ... pas; of indefinite ones kein / pas de
            dets = "ttpga" + ("b" if "b" in v.flags else "") if v.frame == "a" and "k" not in v.flags else "ttpg"
        else:
            dets = "tttaapgn" + ("bb" if "b" in v.flags else "") + ("qq" if "q" in v.flags else "")
            if v.frame == "d":
                dets = "tttpga"
        obj = (NP(rng.choice(_CITY_KEYS)) if k == "city" else
               _person_np(rng, dets) if k == "name" or _NOUNS[k].cls == "p" else _noun_np(rng, k, dets))
        if obj == subj:
            obj = NP("Anna") if subj != NP("Anna") else NP("Tom")
        if "R" in v.flags or ("r" in v.flags and rng.random() < 0.5):
            to = _person_np(rng, "ttpg" if neg else "ttapg")
    if not neg and "x" not in v.flags:
        if rng.random() < 0.2:
            with_ = NP(rng.choice(_PERSONAL)) if rng.random() < 0.3 else _person_np(rng, "ttpg")
            if with_.head in (subj.head, obj and obj.head, to and to.head) or {with_.head, subj.head} == {"I", "we"}:
                with_ = None
        if v.frame != "m" and rng.random() < 0.2:
            place = NP(rng.choice(_CITY_KEYS)) if rng.random() < 0.15 else NP(rng.choice(_BY_CLASS["l"]),
                                                                                    adj=_adj(rng, "l", 0.15))
        if time is not None and with_ is not None and place is not None:
            with_ = None
    front = mode == "main" and time is not None and rng.random() < 0.4
    return Clause("do", subj, key, obj, to, dest, place, with_, time=time, modal=modal, neg=neg, front=front)


def _clause(rng: random.Random, mode: str = "main") -> Clause:
    r = rng.random()
    if r < 0.58:
        return _do_clause(rng, mode)
    neg = mode != "ask" and rng.random() < 0.25
    if r < 0.70:  # the house is (not) big
        adj = rng.choice(_ADJ_KEYS)
        cls = rng.choice([c for c in _ADJS[adj].cls if c in _BY_CLASS])
        if cls == "p":
            subj = _subject(rng, "p", mode, gendered=True)
        else:
            subj = _noun_np(rng, rng.choice(_BY_CLASS[cls]), "tttpg", p_adj=0.0)
        return Clause("be", subj, adj=adj, neg=neg)
    if r < 0.77:  # Anna is 23 years old
        return Clause("age", _subject(rng, "pa", mode), num=rng.randint(2, 99), digits=rng.random() < 0.4)
    if r < 0.85:  # the book costs 3.50 euros
        cls = rng.choice("tfmd")
        subj = _noun_np(rng, rng.choice(_BY_CLASS[cls]), "ttp", p_adj=0.3)
        if rng.random() < 0.3:
            num: int | str = f"{rng.randint(2, 99)}.{rng.choice(range(5, 100, 5)):02d}"
        else:
            num = 1 if rng.random() < 0.1 else _count(rng)
        return Clause("do", subj, "cost", num=num, digits=rng.random() < 0.5)
    if r < 0.90:  # Anna counts to 1000
        n = rng.randint(2, 100) if rng.random() < 0.6 else rng.randint(100, 9999)
        return Clause("do", _subject(rng, "p", mode), "count", num=n, digits=rng.random() < 0.3)
    where = rng.choice(_EXIST_KEYS)  # there are three trees in the garden
    key = rng.choice(_EXIST[where])
    what = _noun_np(rng, key, "ab" if neg else "aanb", p_adj=0.3)
    return Clause("exist", obj=what, place=NP(where, adj=_adj(rng, "l", 0.15)), neg=neg)


def _sample(rng: random.Random) -> Sentence:
    r = rng.random()
    if r < 0.10:
        return Sentence(_clause(rng, "ask"), ask=True)
    if r < 0.22:
        return Sentence(_clause(rng), "because", _clause(rng, "sub"))
    if r < 0.32:
        say = Clause("do", _subject(rng, "p", "main"), rng.choice(_SAY_VERBS))
        return Sentence(say, "that", _clause(rng, "sub"))
    return Sentence(_clause(rng))
