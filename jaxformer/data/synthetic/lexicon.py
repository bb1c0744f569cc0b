"""The bilingual lexicon: nouns, places, names, adjectives, verbs, pronouns, months, days and
time adverbials in English, German and French, as tables; and what it says of a noun phrase
(grammatical person, definiteness, plural substance)."""

from __future__ import annotations

from typing import NamedTuple

from jaxformer.data.synthetic.spec import NP


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


NOUNS = _nouns("""
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
PLACES = {k: tuple(v.split()) for k, v in {
    "park": "in in in dans à", "garden": "in in in dans dans", "kitchen": "in in in dans dans",
    "school": "at in zu à à", "station": "at an zu à à", "supermarket": "at in in à à",
    "museum": "in in in à à", "library": "in in in à à", "office": "at in in à à",
    "market": "at auf auf à à", "restaurant": "at in in à à", "cinema": "at in in à à",
    "bakery": "at in zu à à", "hospital": "at in in à à", "beach": "at an an à à"}.items()}
CITY_PREPS = ("in", "in", "nach", "à", "à")
CITIES = {k: tuple(v.split("/")) for k, v in {
    "berlin": "Berlin/Berlin/Berlin", "paris": "Paris/Paris/Paris", "london": "London/London/Londres",
    "rome": "Rome/Rom/Rome", "vienna": "Vienna/Wien/Vienne", "hamburg": "Hamburg/Hamburg/Hambourg",
    "munich": "Munich/München/Munich", "madrid": "Madrid/Madrid/Madrid"}.items()}
# No name ends in s, x or z, so the German genitive is always name + s (Annas, Toms).
NAMES = {"Anna": "f", "Emma": "f", "Sophie": "f", "Julia": "f", "Laura": "f", "Maria": "f",
          "Tom": "m", "Paul": "m", "Peter": "m", "David": "m", "Leon": "m", "Oliver": "m"}
# What one finds where ("In the garden there are three trees").
EXIST = {k: v.split() for k, v in {
    "garden": "tree flower bird dog cat ball", "park": "tree flower bird dog child",
    "kitchen": "table chair cup glass bottle lamp apple egg cake bread milk water",
    "library": "book table chair computer student", "office": "computer table chair lamp phone",
    "supermarket": "apple pear orange banana tomato potato carrot egg bread milk juice wine cheese",
    "market": "apple pear orange banana tomato potato carrot cheese flower",
    "school": "child teacher book computer", "museum": "photo", "restaurant": "table chair cook"}.items()}
# Which measures go with which substance: five kilograms of apples, two glasses of water.
UNITS = {k: v.split() for k, v in {
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


ADJS = _adjs("""
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
            keys += [k for k, n in NOUNS.items() if n.cls == o] + (["name"] if o == "p" else [])
        else:
            keys.append(o)
    return Verb(tuple(w.replace("_", " ") for w in en.split()), particle + stem, tuple(de_forms), particle,
                de_part.lstrip("*"), de_part.startswith("*"), fr_inf, tuple(fr_forms), fr_part.lstrip("*"),
                fr_part.startswith("*"), frame, subj, tuple(keys), flags)


VERBS = {
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

MODALS = {  # English, German ich du er wir sie, French je tu il nous ils
    "want": ("want", "will willst will wollen wollen".split(), "veux veux veut voulons veulent".split()),
    "can": ("can", "kann kannst kann können können".split(), "peux peux peut pouvons peuvent".split()),
    "must": ("must", "muss musst muss müssen müssen".split(), "dois dois doit devons doivent".split()),
}
EN_BE = ("am", "are", "is", "are", "are")
DE_SEIN = ("bin", "bist", "ist", "sind", "sind")
DE_HABEN = VERBS["have"].de
FR_ETRE = ("suis", "es", "est", "sommes", "sont")
FR_AVOIR = VERBS["have"].fr


class Pron(NamedTuple):
    person: int  # index into the five verb forms
    en: tuple[str, str, str]  # subject, object, possessive
    de: tuple[str, str, str, str]  # nominative, accusative, dative, possessive stem
    fr: tuple[str, str, tuple[str, str, str]]  # subject, stressed, possessive (m f pl)
    fg: str  # French gender of agreement ("" for I, you, we: unknown, so never generated)


PRON = {
    "I": Pron(0, ("I", "me", "my"), ("ich", "mich", "mir", "mein"), ("je", "moi", ("mon", "ma", "mes")), ""),
    "you": Pron(1, ("you", "you", "your"), ("du", "dich", "dir", "dein"), ("tu", "toi", ("ton", "ta", "tes")), ""),
    "he": Pron(2, ("he", "him", "his"), ("er", "ihn", "ihm", "sein"), ("il", "lui", ("son", "sa", "ses")), "m"),
    "she": Pron(2, ("she", "her", "her"), ("sie", "sie", "ihr", "ihr"), ("elle", "elle", ("son", "sa", "ses")), "f"),
    "we": Pron(3, ("we", "us", "our"), ("wir", "uns", "uns", "unser"), ("nous", "nous", ("notre", "notre", "nos")), ""),
    "they": Pron(4, ("they", "them", "their"), ("sie", "sie", "ihnen", "ihr"),
                 ("ils", "eux", ("leur", "leur", "leurs")), "m"),
}
POSS = {p.en[2]: p for p in PRON.values()}  # my -> I ...

MONTHS = (("January", "Januar", "janvier"), ("February", "Februar", "février"), ("March", "März", "mars"),
           ("April", "April", "avril"), ("May", "Mai", "mai"), ("June", "Juni", "juin"),
           ("July", "Juli", "juillet"), ("August", "August", "août"), ("September", "September", "septembre"),
           ("October", "Oktober", "octobre"), ("November", "November", "novembre"),
           ("December", "Dezember", "décembre"))
DAYS = (("Monday", "Montag", "lundi"), ("Tuesday", "Dienstag", "mardi"), ("Wednesday", "Mittwoch", "mercredi"),
         ("Thursday", "Donnerstag", "jeudi"), ("Friday", "Freitag", "vendredi"),
         ("Saturday", "Samstag", "samedi"), ("Sunday", "Sonntag", "dimanche"))
TIMES: dict[str, tuple[str, str, str, bool]] = {  # en, de, fr, past
    "every_day": ("every day", "jeden Tag", "tous les jours", False),
    "every_morning": ("every morning", "jeden Morgen", "tous les matins", False),
    "every_evening": ("every evening", "jeden Abend", "tous les soirs", False),
    **{f"every_{en.lower()}": (f"every {en}", f"jeden {de}", f"tous les {fr}s", False) for en, de, fr in DAYS},
    "yesterday": ("yesterday", "gestern", "hier", True),
    "last_week": ("last week", "letzte Woche", "la semaine dernière", True),
    "last_year": ("last year", "letztes Jahr", "l'année dernière", True),
}


def person(np: NP | None) -> int:
    """Index of the verb form: 0 ich/je ... 2 third singular, 4 third plural."""
    if np is None:
        return 2
    if np.head in PRON:
        return PRON[np.head].person
    return 4 if np.n > 1 else 2


def definite(np: NP) -> bool:
    return np.det not in ("a", "", "num") and not np.unit


def many(np: NP) -> bool:
    """Whether the substance of a quantity is plural: kilograms of apples, but pieces of cake."""
    return NOUNS[np.head].count and np.unit != "piece"
