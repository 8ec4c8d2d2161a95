#!/usr/bin/env python3
"""Write ftprep's sample raw data into data/raw/ (and data/raw/README.md).

Deterministic: a fixed seed, no network, no clock, stdlib only. Running it twice gives identical
bytes. All text is original: hand-written passages plus templates filled from small vocab lists
about fictional or general subjects (the retailer "Lumen Outfitters" is made up).

Every file mixes clean records with a few planted defects. The script records where each defect
landed, prints a summary, and writes the same numbers into data/raw/README.md, so the README and
the data cannot disagree. Besides the planted copies, no two records anywhere in data/raw/ are
exact or near copies of each other: every record is checked against all earlier ones (character
5-gram shingles of its lower-cased, whitespace-collapsed text, Jaccard < NEAR_DUP_THRESHOLD).

Usage: python scripts/make_sample_data.py [--out DIR] [--check]
  --check  regenerate in memory and exit 1 if the files on disk differ.
"""

from __future__ import annotations

import argparse
import copy
import csv
import gzip
import io
import json
import random
import sys
import unicodedata
from pathlib import Path

SEED = 20240517
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "data" / "raw"
NEAR_DUP_THRESHOLD = 0.5
SHINGLE = 5


# --------------------------------------------------------------------------- near-dup guard


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def _shingles(text: str) -> frozenset[str]:
    t = _norm(text)
    if len(t) <= SHINGLE:
        return frozenset([t])
    return frozenset(t[i : i + SHINGLE] for i in range(len(t) - SHINGLE + 1))


class Guard:
    """Accepts a text only if it is not an exact or near copy of any text accepted before."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.sets: list[frozenset[str]] = []
        self.max_seen = 0.0

    def similarity(self, s: frozenset[str]) -> float:
        best = 0.0
        n = len(s)
        for o in self.sets:
            m = len(o)
            if min(n, m) / max(n, m) <= best:
                continue
            j = len(s & o) / len(s | o)
            if j > best:
                best = j
        return best

    def offer(self, text: str) -> bool:
        key = _norm(text)
        if key in self.keys:
            return False
        s = _shingles(text)
        sim = self.similarity(s)
        if sim >= NEAR_DUP_THRESHOLD:
            return False
        self.max_seen = max(self.max_seen, sim)
        self.keys.add(key)
        self.sets.append(s)
        return True

    def require(self, text: str, what: str) -> None:
        if not self.offer(text):
            raise SystemExit(f"hand-written record is a (near) copy of an earlier one: {what!r}")


GUARD = Guard()


def take(rng: random.Random, n: int, make, what: str, tries: int = 4000) -> list:
    """Draw n records from make(rng) -> (record, text), skipping exact/near copies."""
    out = []
    for _ in range(tries):
        if len(out) == n:
            return out
        rec, text = make(rng)
        if GUARD.offer(text):
            out.append(rec)
    raise SystemExit(f"{what}: only {len(out)} of {n} distinct records after {tries} tries")


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


# =========================================================================== 1. support chat

SUPPORT_SYSTEMS = [
    "You are the customer-support assistant for Lumen Outfitters, an outdoor gear retailer. Be "
    "friendly, concise and accurate. If you are not sure about something, say so and offer to "
    "connect the customer with a human agent.",
    "You are Lumi, the support assistant of Lumen Outfitters. Answer in the customer's language "
    "and keep replies under 120 words.",
    "Lumen Outfitters support. Policies: 60-day returns, free exchanges, two-year warranty on all "
    "gear. Never promise a delivery date you cannot verify.",
    "You help customers of Lumen Outfitters (outdoor clothing and equipment, online and in six "
    "stores). Be warm but get to the point; use short paragraphs.",
]

PRODUCTS = [
    # name, care kind, compare group, price (USD), one-line detail
    ("Ridgeline 40L backpack", "pack", "packs", 189, "weighs 1.3 kg and has a removable hip belt"),
    ("Coastline 18L daypack", "pack", "packs", 79, "folds into its own lid pocket"),
    ("Cairn 65L trekking pack", "pack", "packs", 259, "has an adjustable back system and a rain cover"),
    ("Tarn 2 ultralight tent", "tent", "tents", 349, "packs down to the size of a water bottle"),
    ("Homestead 4 family tent", "tent", "tents", 429, "has two bedrooms and a tall porch"),
    ("Cirrus down jacket", "down", "jackets", 229, "uses 800-fill responsibly sourced down"),
    ("Fjord 3-layer rain shell", "shell", "jackets", 279, "is fully seam-taped and has pit zips"),
    ("Nimbus synthetic jacket", "down", "jackets", 169, "stays warm even when it gets damp"),
    ("Alder trail runners", "shoe", "footwear", 139, "have a 6 mm drop and a rock plate"),
    ("Basalt mid hiking boots", "shoe", "footwear", 209, "have a waterproof membrane and a stiff sole"),
    ("Talus approach shoes", "shoe", "footwear", 159, "have sticky rubber that climbs well on slabs"),
    ("Ember compact camp stove", "stove", "kitchen", 74, "boils a litre of water in about four minutes"),
    ("Solstice −7 °C sleeping bag", "bag", "sleep", 259, "is rated comfortable down to −1 °C"),
    ("Kestrel carbon trekking poles", "poles", "poles", 119, "weigh 210 g each"),
    ("Lumen 350 headlamp", "lamp", "lamps", 49, "throws 350 lumens and charges over USB-C"),
    ("Driftwood merino base layer", "merino", "layers", 89, "is 200 g/m² merino and resists odour"),
    ("Sable fleece hoodie", "fleece", "layers", 99, "is made from recycled polyester fleece"),
    ("Wren insulated bottle", "bottle", "kitchen", 35, "keeps drinks cold for 24 hours"),
]

CARE = {
    "pack": "Empty every pocket, shake out the crumbs and hand-wash it in a tub with mild soap and a "
    "soft brush. Please don't machine-wash it: the drum can crack the frame sheet and strip the "
    "coating. Hang it upside down to dry with all the zips open.",
    "tent": "Pitch it in the garden, sponge it with cool water and a little non-detergent soap, and "
    "let it dry completely before packing it away, otherwise mildew sets in. Store it loosely in a "
    "breathable sack rather than the tight stuff sack.",
    "down": "Wash it on a gentle cycle in cold water with a down-specific wash, then tumble-dry on low "
    "with two or three clean tennis balls to break up clumps. It can take a couple of hours; keep "
    "going until no clumps remain.",
    "shell": "Wash it with a technical cleaner and no fabric softener, then tumble-dry on low for "
    "about 20 minutes; the heat reactivates the water-repellent finish. If water stops beading on "
    "the surface, a spray-on DWR treatment brings it back.",
    "shoe": "Knock off the dried mud, take out the insoles and scrub with lukewarm water and a soft "
    "brush. Stuff them with newspaper and let them dry away from radiators and campfires, which "
    "weaken the glue.",
    "stove": "Let it cool, wipe the burner head, and check the O-ring on the canister connector for "
    "cracks before each trip. The little pin in the stuff sack clears a blocked jet.",
    "bag": "Spot-clean the hood and collar between trips and give it a full wash in a front-loading "
    "machine no more than twice a year. Store it uncompressed in the big cotton sack it came with.",
    "poles": "Take the sections apart after a wet trip, wipe them dry and store them loosely "
    "extended so the locks keep their tension.",
    "lamp": "Take the battery out for long storage, wipe the lens with a soft cloth, and rinse the "
    "charging-port cover if sand gets in.",
    "merino": "Wash it cool on a wool cycle and lay it flat to dry. Merino resists odour, so most of "
    "the time you can just air it out between wears.",
    "fleece": "Wash it inside out on cold, skip the fabric softener, and use a wash bag that catches "
    "microfibres.",
    "bottle": "Hand-wash it with a bottle brush; a spoonful of baking soda and warm water clears "
    "stale smells. The lid gasket pops out so you can clean under it.",
}

PARTS = {
    "pack": ["zipper pull", "hip-belt buckle", "shoulder-strap stitching"],
    "tent": ["pole segment", "door zipper", "guy-line tensioner"],
    "down": ["main zipper", "cuff snap", "hood drawcord"],
    "shell": ["main zipper", "hood adjuster", "pit zip"],
    "shoe": ["sole", "lace hook", "heel counter"],
    "stove": ["piezo igniter", "pot support"],
    "bag": ["zipper", "draft collar"],
    "poles": ["flick lock", "carbide tip"],
    "lamp": ["headband clip", "charging port"],
    "merino": ["shoulder seam"],
    "fleece": ["zipper", "pocket seam"],
    "bottle": ["lid hinge"],
}

SIZING = {
    "down": "it fits true to size with room for a thin fleece underneath",
    "shell": "it's cut roomy so it fits over a down jacket",
    "merino": "it's a close, next-to-skin fit",
    "fleece": "it fits true to size, slightly relaxed through the body",
    "shoe": "they run about half a size small, so most people size up by a half",
    "pack": "the size depends on torso length rather than height",
}

SHIPPING = [
    # country, min days, max days, standard cost, express min, express max, customs note
    ("the United States", 3, 5, "free over $75, otherwise $7.95", 1, 2, ""),
    ("Canada", 5, 8, "CA$14", 2, 3, "Duties are prepaid at checkout, so nothing is due on delivery."),
    ("the United Kingdom", 6, 9, "£12", 3, 4, "Import VAT is added at checkout."),
    ("Germany", 6, 10, "€13", 3, 4, "EU VAT is included in the price you see at checkout."),
    ("France", 6, 10, "€13", 3, 4, "EU VAT is included in the price you see at checkout."),
    ("Japan", 7, 12, "¥1,900", 3, 5, "Japan Post may collect consumption tax on delivery."),
    ("Australia", 8, 14, "A$24", 4, 6, "Orders under A$1,000 have GST added at checkout."),
    ("Mexico", 6, 10, "MX$260", 3, 5, "The carrier may collect import taxes on delivery."),
    ("Norway", 7, 11, "NOK 160", 3, 5, "Norwegian VAT is collected by the carrier on delivery."),
    ("Brazil", 10, 18, "R$95", 5, 7, "Import duties are collected by Correios before delivery."),
]

STORES = [
    ("Portland", "the Pearl District", "10 am to 8 pm", "11 am to 6 pm"),
    ("Denver", "LoHi", "10 am to 7 pm", "10 am to 5 pm"),
    ("Boulder", "Pearl Street", "9 am to 8 pm", "10 am to 6 pm"),
    ("Seattle", "Fremont", "10 am to 8 pm", "11 am to 5 pm"),
    ("Vancouver", "Kitsilano", "10 am to 7 pm", "11 am to 6 pm"),
    ("Montréal", "the Plateau-Mont-Royal", "10 h to 19 h", "11 h to 17 h"),
]

COLORS = ["moss green", "slate grey", "ember orange", "glacier blue", "charcoal", "sand", "plum"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
CODES = ["TRAIL15", "SUMMIT20", "WELCOME10", "FALLGEAR", "BASECAMP25", "RIVER5"]

GREETINGS = ["", "", "", "Hi! ", "Hello. ", "Hey there. ", "Hi, this is Zoë. ", "Good morning! ",
             "José here. ", "Hi, Amélie from Lyon. ", "Hallo, Björn here. ", "Hi, Søren again. ",
             "Hello from Kraków! ", "Hi team! "]
OPENERS = ["", "", "Happy to help!", "Thanks for reaching out.", "Good question!", "Sure thing.",
           "Thanks for getting in touch.", "Of course."]
CLOSERS = ["", "", "Anything else I can help with?", "Let me know if there's anything else.",
           "Happy trails!", "Hope that helps!", "Feel free to reply here if anything is unclear."]


def order_id(rng: random.Random) -> str:
    return f"A{rng.randint(1000, 9899)}"


def _product(rng, kinds=None):
    pool = [p for p in PRODUCTS if kinds is None or p[1] in kinds]
    return rng.choice(pool)


def s_returns(rng):
    p = _product(rng)
    days = rng.choice([3, 6, 9, 12, 17, 24, 31, 38, 45, 52, 58, 66, 73, 90])
    oid = order_id(rng)
    user = rng.choice([
        f"Can I return the {p[0]} I bought {days} days ago? It isn't quite what I expected.",
        f"What's your return policy on the {p[0]}? I've only used it once, about {days} days ago.",
        f"I'd like to send back a {p[0]} (order {oid}, delivered {days} days ago). How does that work?",
        f"Is it too late to return my {p[0]}? It arrived {days} days ago and I never took it outside.",
    ])
    if days <= 60:
        core = rng.choice([
            f"We accept returns within 60 days of delivery, so at {days} days your {p[0]} is still "
            f"eligible, even if it has been used.",
            f"Yes. Our return window is 60 days from delivery and you're at day {days}, so you're "
            f"fine.",
        ])
        how = rng.choice([
            f"Go to Orders > {oid} > Return item, print the prepaid label and drop the parcel at "
            f"any post office." if "order" in user else
            "Start the return from the Orders page in your account and print the prepaid label.",
            "You can also bring it to any Lumen Outfitters store for an instant refund.",
            "Refunds reach your card 3–5 business days after the parcel is scanned at our "
            "warehouse.",
        ])
    else:
        core = (f"Our return window is 60 days from delivery, so at {days} days the {p[0]} is "
                f"outside it, I'm sorry.")
        how = rng.choice([
            "If something is actually faulty, though, our two-year warranty covers it and we can "
            "repair or replace it.",
            "Store credit is sometimes possible for unused items; I can pass your case to a human "
            "agent to check.",
        ])
    return user, join(rng.choice(OPENERS), core, how, rng.choice(CLOSERS))


def s_exchange(rng):
    p = _product(rng, {"down", "shell", "merino", "fleece", "shoe"})
    plural = p[0].endswith("s")
    if p[1] == "shoe":
        scale = rng.choice([["EU 38", "EU 39", "EU 40", "EU 41", "EU 42", "EU 43", "EU 44", "EU 45"],
                            ["US 8", "US 8.5", "US 9", "US 9.5", "US 10", "US 10.5", "US 11"]])
    else:
        scale = ["XS", "S", "M", "L", "XL", "XXL"]
    have, want = rng.sample(scale, 2)
    fit = "small" if scale.index(want) > scale.index(have) else "big"
    it, its = ("them", "they're") if plural else ("it", "it's")
    user = rng.choice([
        f"Can I swap my {p[0]} in {have} for {want}?",
        f"I got the {p[0]} in {have} and {its} too {fit}. Could I exchange {it} for {want}?",
        f"How do exchanges work? I need the {p[0]} in {want} instead of {have}.",
    ])
    core = rng.choice([
        f"Exchanges are free. In your order, choose Exchange instead of Return, pick {want}, and we "
        f"ship the new {p[0]} as soon as the carrier scans your parcel.",
        f"Yes, we can swap it. Start an exchange from your order page and select {want}; the "
        f"return label is prepaid and the replacement ships within a day of the first scan.",
    ])
    extra = rng.choice(["", f"We're holding plenty of {want} in stock right now.",
                        f"If {want} sells out before your parcel is scanned, we'll refund you "
                        f"instead."])
    return user, join(rng.choice(OPENERS), core, extra, rng.choice(CLOSERS))


def s_shipping(rng):
    c, lo, hi, cost, elo, ehi, note = rng.choice(SHIPPING)
    user = rng.choice([
        f"How long does shipping to {c} take?",
        f"I live in {c}. What are the delivery times and costs?",
        f"Do you ship to {c}, and how much is it?",
        f"If I order today, roughly when would a parcel reach {c}?",
    ])
    core = (f"Standard shipping to {c} takes {lo}–{hi} business days and costs {cost}. Express "
            f"takes {elo}–{ehi} business days.")
    extra = rng.choice(["Orders placed before 2 pm Pacific leave the warehouse the same day.",
                        "You'll get a tracking link by email as soon as the parcel ships.", ""])
    return user, join(rng.choice(OPENERS), core, note, extra, rng.choice(CLOSERS))


def s_care(rng):
    p = _product(rng)
    user = rng.choice([
        f"How should I wash my {p[0]}?",
        f"Any tips for keeping my {p[0]} in good shape?",
        f"My {p[0]} is grubby after a season of use. How do I clean it without ruining it?",
        f"What's the right way to look after a {p[0]}?",
    ])
    return user, join(rng.choice(OPENERS), CARE[p[1]], rng.choice(CLOSERS))


def s_sizing(rng):
    p = _product(rng, set(SIZING))
    if p[1] == "pack":
        torso = rng.randint(40, 53)
        user = f"My torso is {torso} cm. Which size {p[0]} should I get, S/M or M/L?"
        size = "S/M" if torso < 47 else "M/L"
        core = (f"For the {p[0]}, {SIZING['pack']}. S/M fits torsos of 40–47 cm and M/L fits "
                f"46–53 cm, so at {torso} cm I'd go with {size}.")
    else:
        h = rng.randint(155, 195)
        usual = rng.choice(["S", "M", "L", "XL"]) if p[1] != "shoe" else rng.choice(
            ["EU 39", "EU 41", "EU 42", "EU 44", "US 9", "US 10.5"])
        user = rng.choice([
            f"I'm {h} cm and usually wear {usual}. Which size {p[0]} should I order?",
            f"Is the sizing on the {p[0]} big or small? I normally wear {usual}.",
        ])
        core = f"For the {p[0]}, {SIZING[p[1]]}."
        if p[1] == "shoe":
            core += f" Since you're usually {usual}, I'd order half a size up."
        elif p[1] == "shell":
            core += f" If you only plan to wear it over a T-shirt, {usual} will still work."
        else:
            core += f" Your usual {usual} should be right."
    extra = rng.choice(["", "Our size chart is linked under the size buttons on each product page.",
                        "And if it's wrong, exchanges are free."])
    return user, join(rng.choice(OPENERS), core, extra, rng.choice(CLOSERS))


def s_warranty(rng):
    p = _product(rng)
    part = rng.choice(PARTS[p[1]])
    months = rng.randint(2, 30)
    user = rng.choice([
        f"The {part} on my {p[0]} broke after {months} months. Is that covered?",
        f"After {months} months of use the {part} of my {p[0]} failed. What are my options?",
    ])
    if months <= 24:
        core = (f"Yes, a failed {part} after {months} months is covered by our two-year "
                f"warranty. Send us a photo of the {part} and your order number, and we'll repair "
                f"or replace the {p[0]} within {rng.choice([5, 7, 10])} business days.")
    else:
        core = (f"At {months} months the {p[0]} is just past our two-year warranty, but our "
                f"repair studio can fix a {part} for a small flat fee. Book it online under "
                f"Services > Repairs.")
    return user, join(rng.choice(OPENERS), core, rng.choice(CLOSERS))


def s_discount(rng):
    code = rng.choice(CODES)
    user = rng.choice([
        f"The code {code} isn't working at checkout.",
        f"Why does it say my discount code {code} is invalid?",
        f"I tried {code} twice and nothing comes off the total. What am I doing wrong?",
    ])
    reason = rng.choice([
        f"{code} was a seasonal code that ended on {rng.randint(1, 28)} {rng.choice(MONTHS)}, so "
        f"checkout rejects it now.",
        f"{code} needs a minimum order of ${rng.choice([50, 75, 100, 150])} before tax, and your "
        f"cart may be just under that.",
        f"{code} doesn't apply to items that are already on sale or to gift cards; on a mixed cart "
        f"it only discounts the full-price items.",
        f"{code} is single-use and tied to the email address it was sent to, so make sure you're "
        f"signed in with that address.",
    ])
    extra = rng.choice(["", "Right now there's free shipping on orders over $75 instead.",
                        "Only one code can be used per order."])
    return user, join(rng.choice(OPENERS), reason, extra, rng.choice(CLOSERS))


def s_address(rng):
    oid = order_id(rng)
    user = rng.choice([
        f"I just placed order {oid} and typed the wrong street name. Can I change it?",
        f"Can I update the shipping address on {oid}? I'm moving next week.",
        f"Oops, order {oid} is going to my old flat. Help!",
    ])
    hours = rng.choice([1, 2, 3])
    core = (f"If {oid} hasn't shipped yet, you can edit the address yourself under Orders > {oid} "
            f"> Edit shipping details. The button disappears once the warehouse starts packing, "
            f"usually within {hours} hour{'s' if hours > 1 else ''}.")
    extra = rng.choice([
        "If it has already shipped, reply with the corrected address and a human agent will ask "
        "the carrier to redirect it.",
        "Once it's in transit, the carrier's tracking page usually offers a redirect option.",
    ])
    return user, join(rng.choice(OPENERS), core, extra, rng.choice(CLOSERS))


def s_stock(rng):
    p = _product(rng, {"pack", "down", "shell", "fleece", "merino", "bottle", "shoe"})
    color = rng.choice(COLORS)
    month = rng.choice(MONTHS)
    user = rng.choice([
        f"Will the {p[0]} in {color} be back in stock?",
        f"The {color} {p[0]} has been sold out for weeks. Any news?",
        f"When are you restocking the {p[0]}? I want the {color} one.",
    ])
    core = (f"We expect the next delivery of the {color} {p[0]} in {month}, though restock dates "
            f"can slip by a week or two.")
    extra = rng.choice([
        "Tap “Notify me” on the product page and we'll email you the moment it's back.",
        "Our Boulder and Seattle stores sometimes still have one or two; it's worth calling them.",
        "",
    ])
    return user, join(rng.choice(OPENERS), core, extra, rng.choice(CLOSERS))


def s_store(rng):
    city, area, week, sun = rng.choice(STORES)
    user = rng.choice([
        f"What time does your {city} store close on Sunday?",
        f"Is the {city} shop open this weekend?",
        f"Where exactly is the {city} store, and what are the opening hours?",
    ])
    core = (f"The {city} store is in {area}. It's open Monday to Saturday from {week} and on "
            f"Sundays from {sun}.")
    extra = rng.choice(["", "Hours can change on public holidays, so check the store page first.",
                        "There's a repair desk in that store too."])
    return user, join(rng.choice(OPENERS), core, extra, rng.choice(CLOSERS))


def s_repair(rng):
    p = _product(rng)
    part = rng.choice(PARTS[p[1]])
    cost = rng.choice([15, 20, 25, 30, 40, 45])
    weeks = rng.choice([1, 2, 3])
    user = rng.choice([
        f"Can you repair my {p[0]}? The {part} is broken and it's out of warranty.",
        f"Do you do repairs? My old {p[0]} could use a new {part}.",
    ])
    core = (f"Yes, our repair studio handles out-of-warranty fixes. A {part} repair on a {p[0]} "
            f"usually costs about ${cost} and takes {weeks} week{'s' if weeks > 1 else ''}.")
    extra = rng.choice([
        "Book it online under Services > Repairs and we'll email you a prepaid shipping label.",
        "You can also drop it at any of our stores and we'll send it to the studio for you.",
    ])
    return user, join(rng.choice(OPENERS), core, extra, rng.choice(CLOSERS))


def s_compare(rng):
    groups = {}
    for p in PRODUCTS:
        groups.setdefault(p[2], []).append(p)
    group = rng.choice([g for g in groups.values() if len(g) > 1])
    a, b = rng.sample(group, 2)
    user = rng.choice([
        f"What's the difference between the {a[0]} and the {b[0]}?",
        f"I can't decide between the {a[0]} and the {b[0]}. Thoughts?",
        f"{a[0]} or {b[0]} for a first season of hiking?",
    ])
    cheaper = a if a[3] < b[3] else b
    core = (f"The {a[0]} (${a[3]}) {a[4]}, while the {b[0]} (${b[3]}) {b[4]}. "
            f"If budget matters most, the {cheaper[0]} is the better deal; otherwise pick the one "
            f"whose strength matches your trips.")
    return user, join(rng.choice(OPENERS), core, rng.choice(CLOSERS))


def s_giftcard(rng):
    amount = rng.choice([25, 50, 75, 100, 150, 200])
    user = rng.choice([
        "Do your gift cards expire?",
        f"Can I buy a ${amount} gift card and have it emailed to my brother?",
        "Can I use a gift card in the store as well as online?",
    ])
    core = rng.choice([
        "Lumen Outfitters gift cards never expire and work both online and in all six stores.",
        f"Yes: digital gift cards from $25 to $500 arrive by email within a few minutes, and you "
        f"can schedule the delivery date. A ${amount} card is a popular choice.",
        "Physical cards ship free in a small kraft envelope, and any balance stays on the card "
        "until it's used up.",
    ])
    return user, join(rng.choice(OPENERS), core, rng.choice(CLOSERS))


SUPPORT_INTENTS = [s_returns, s_exchange, s_shipping, s_care, s_sizing, s_warranty, s_discount,
                   s_address, s_stock, s_store, s_repair, s_compare, s_giftcard]

LOWERABLE = {"What", "What's", "How", "Can", "Do", "Does", "Is", "Will", "Any", "Why",
             "The", "My", "If", "After", "Oops,", "When", "Where", "Where's", "Could"}

THANKS = [("Great, thanks!", "You're welcome! Enjoy your gear."),
          ("Perfect, thank you so much! 😊", "My pleasure. Have a great trip!"),
          ("Thanks, that's really helpful.", "Glad I could help. Have a lovely weekend."),
          ("Cheers.", "Anytime!"),
          ("Merci beaucoup !", "Avec plaisir ! Bonne randonnée.")]


def _text_of(messages) -> str:
    return "\n".join(m["content"] or "" for m in messages)


def make_support(rng: random.Random, multi: bool):
    msgs = []
    if rng.random() < 0.6:
        msgs.append({"role": "system", "content": rng.choice(SUPPORT_SYSTEMS)})
    u, a = rng.choice(SUPPORT_INTENTS)(rng)
    msgs += [{"role": "user", "content": rng.choice(GREETINGS) + u},
             {"role": "assistant", "content": a}]
    if multi:
        u2, a2 = rng.choice(SUPPORT_INTENTS)(rng)
        lead = rng.choice(["Also, ", "One more thing: ", "Thanks. ", "OK. And ", ""])
        first_word = u2.split()[0]
        if lead in ("Also, ", "OK. And ") and first_word in LOWERABLE:
            u2 = u2[0].lower() + u2[1:]
        u2 = lead + u2
        msgs += [{"role": "user", "content": u2}, {"role": "assistant", "content": a2}]
        if rng.random() < 0.4:
            t, r = rng.choice(THANKS)
            msgs += [{"role": "user", "content": t}, {"role": "assistant", "content": r}]
        if rng.random() < 0.3:
            msgs[1 if msgs[0]["role"] == "user" else 2]["weight"] = 0
    return {"messages": msgs}, _text_of(msgs)


LOOKUP_ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up a Lumen Outfitters order by its id and return its status, "
        "carrier, tracking number and estimated delivery date.",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {
                    "type": "string",
                    "description": "The order id, a letter A followed by four digits, e.g. A1234.",
                }
            },
            "required": ["order_id"],
            "additionalProperties": False,
        },
    },
}


def tool_examples(rng: random.Random) -> list[dict]:
    cases = [
        ("Hi, can you check where my order A1234 is?", "A1234",
         {"order_id": "A1234", "status": "shipped", "carrier": "UPS",
          "tracking": "1Z4F62X90355172804", "estimated_delivery": "2024-05-14"},
         "Your order A1234 has shipped with UPS and should arrive by Tuesday, 14 May. The "
         "tracking number is 1Z4F62X90355172804 if you'd like to follow it on the UPS site."),
        ("Has order A2087 left the warehouse yet? I need the backpack before Friday.", "A2087",
         {"order_id": "A2087", "status": "processing", "items": ["Ridgeline 40L backpack"],
          "carrier": None, "estimated_delivery": "2024-06-03"},
         "Not yet: order A2087 (the Ridgeline 40L backpack) is still being processed, and the "
         "current estimate is Monday, 3 June, which is after Friday. If you need it sooner I can "
         "ask a human agent to upgrade it to express shipping at no cost."),
        ("Tracking says A3391 was delivered but there's nothing at my door.", "A3391",
         {"order_id": "A3391", "status": "delivered", "carrier": "USPS",
          "delivered_at": "2024-04-02T15:47:00-06:00", "proof_of_delivery": "front porch"},
         "I'm sorry about that. USPS marked order A3391 as delivered to the front porch on "
         "2 April at 3:47 pm. Please check with neighbours and any building reception; if it "
         "hasn't turned up within 48 hours, reply here and we'll send a replacement or refund."),
    ]
    out = []
    for user, oid, result, answer in cases:
        call_id = "call_" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                               "0123456789") for _ in range(24))
        msgs = [
            {"role": "system", "content": SUPPORT_SYSTEMS[0] + " Use the lookup_order tool to "
             "check order status; never guess."},
            {"role": "user", "content": user},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": call_id, "type": "function",
                "function": {"name": "lookup_order",
                             "arguments": json.dumps({"order_id": oid})}}]},
            {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result)},
            {"role": "assistant", "content": answer},
        ]
        GUARD.require(_text_of(msgs), user)
        out.append({"messages": msgs, "tools": [LOOKUP_ORDER_TOOL]})
    return out


CHINESE_SUPPORT = {"messages": [
    {"role": "system", "content": SUPPORT_SYSTEMS[1]},
    {"role": "user", "content": "你好！我上周订了一件 Cirrus 羽绒服，请问寄到上海大概需要多久？"},
    {"role": "assistant", "content": "您好！寄往中国大陆的标准配送通常需要 8–12 个工作日，"
     "加急配送为 4–6 个工作日。包裹发出后，您会收到一封带有物流追踪链接的邮件。"
     "请问还有其他可以帮您的吗？"},
]}


def jl(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def build_support(rng: random.Random):
    """Returns (lines, labels, stats). labels[i] describes line i+1."""
    single = take(rng, 80, lambda r: make_support(r, False), "support single-turn")
    multi = take(rng, 26, lambda r: make_support(r, True), "support multi-turn")
    GUARD.require(_text_of(CHINESE_SUPPORT["messages"]), "chinese support")
    tools = tool_examples(rng)
    good = single + multi + tools + [CHINESE_SUPPORT]
    rng.shuffle(good)

    # Defective-but-valid-JSON records, each built from a fresh distinct example.
    empty, usr, w2, eot, trunc_src = take(rng, 5, lambda r: make_support(r, False), "defects")
    empty = copy.deepcopy(empty)
    empty["messages"][-1]["content"] = ""
    usr = copy.deepcopy(usr)
    for m in usr["messages"]:
        if m["role"] == "user":
            m["role"] = "usr"
    w2 = copy.deepcopy(w2)
    w2["messages"][-1]["weight"] = 2
    eot = copy.deepcopy(eot)
    eot["messages"][-1]["content"] += "<|endoftext|>"

    lines = [(jl(g), "ok") for g in good]
    trunc_line = jl(trunc_src)
    trunc_line = trunc_line[: int(len(trunc_line) * 0.55)]
    try:
        json.loads(trunc_line)
        raise SystemExit("truncated line unexpectedly parses")
    except json.JSONDecodeError:
        pass

    def insert(at, text, label):
        lines.insert(at, (text, label))

    insert(17, jl(empty), "empty_assistant_content")
    insert(29, "", "blank_line")
    insert(41, trunc_line, "truncated_json")
    insert(55, jl(usr), "unknown_role_usr")
    insert(68, "[3, 1, 4, 1, 5, 9, 2, 6]", "json_array_not_object")
    insert(80, jl(w2), "weight_2")
    insert(93, jl(eot), "endoftext_token_in_content")

    # Duplicates: copies of earlier ok lines, placed later in the file.
    # (not the tool-call or Chinese examples, so those stay unique: 3 tool lines, 1 CJK line)
    ok_positions = [i for i, (t, lab) in enumerate(lines)
                    if lab == "ok" and i < 60 and '"tools"' not in t and "你好" not in t]
    originals = rng.sample(ok_positions, 4)
    originals.sort()
    dup_lines = []
    for k, pos in enumerate(originals):
        text = lines[pos][0]
        if k == 3:
            obj = json.loads(text)
            for m in obj["messages"]:
                if m["role"] == "user" and " " in m["content"]:
                    m["content"] = m["content"].replace(" ", "  ", 1)
                    break
            text2 = jl(obj)
            assert text2 != text and json.loads(text2) != json.loads(text)
            dup_lines.append((text2, f"duplicate_whitespace:{pos}"))
        else:
            dup_lines.append((text, f"duplicate_exact:{pos}"))
    # Keep track of originals by identity: labels use original list index, resolved below.
    orig_text = {pos: lines[pos][0] for pos in originals}
    for text, lab in dup_lines:
        at = rng.randint(70, len(lines))
        lines.insert(at, (text, lab))

    # Resolve labels to line numbers.
    line_of_text = {}
    for i, (text, lab) in enumerate(lines):
        if lab == "ok":
            line_of_text.setdefault(text, i + 1)
    labels = []
    for i, (text, lab) in enumerate(lines):
        if lab.startswith("duplicate_"):
            kind, pos = lab.split(":")
            orig_line = line_of_text[orig_text[int(pos)]]
            assert orig_line < i + 1
            labels.append((i + 1, kind, orig_line))
        elif lab != "ok":
            labels.append((i + 1, lab, None))
    return [t for t, _ in lines], labels, {
        "single": len(single), "multi": len(multi), "tools": len(tools),
        "weight0": sum(1 for g in good for m in g["messages"] if m.get("weight") == 0),
        "system": sum(1 for g in good if g["messages"][0]["role"] == "system"),
    }


# =========================================================================== 2. recipes (Alpaca)

# Ingredients: (quantity, unit, item). unit "" = a count; item may be "singular|plural".
DISHES = [
    {"name": "shakshuka", "serves": 2,
     "intro": "Shakshuka is eggs poached in a spiced tomato and pepper sauce; it's a one-pan meal "
              "that works for breakfast or dinner.",
     "ing": [(2, "tbsp", "olive oil"), (1, "", "onion|onions"), (1, "", "red pepper|red peppers"),
             (2, "", "garlic clove|garlic cloves"), (1, "tsp", "ground cumin"),
             (1, "tsp", "smoked paprika"), (400, "g", "canned chopped tomatoes"),
             (4, "", "egg|eggs"), (40, "g", "feta")],
     "steps": ["Soften the sliced onion and pepper in the oil over medium heat for 8 minutes.",
               "Add the garlic and spices and cook for one minute until fragrant.",
               "Pour in the tomatoes, season, and simmer for 10 minutes until thick.",
               "Make four wells, crack an egg into each, cover and cook for 5–7 minutes until the "
               "whites are set.",
               "Crumble the feta over the top and serve with bread."],
     "subs": {"feta": "Any salty crumbly cheese works: try Cotija, ricotta salata, or a spoonful "
                      "of labneh. For a dairy-free version, skip it and finish with chopped "
                      "olives and fresh parsley.",
              "smoked paprika": "Use sweet paprika plus a pinch of chilli flakes; you'll lose a "
                                "little smokiness but the dish still works."},
     "keeps": "The sauce keeps 4 days in the fridge and freezes well for 3 months, but cook the "
              "eggs fresh: reheat the sauce until bubbling, then add the eggs."},
    {"name": "mushroom risotto", "serves": 4,
     "intro": "A creamy risotto built on browned mushrooms and a good stock.",
     "ing": [(30, "g", "dried porcini"), (1.2, "l", "hot vegetable stock"),
             (400, "g", "chestnut mushrooms"), (2, "tbsp", "olive oil"),
             (1, "", "shallot|shallots"), (300, "g", "arborio rice"), (120, "ml", "dry white wine"),
             (40, "g", "butter"), (50, "g", "grated Parmesan")],
     "steps": ["Soak the porcini in 200 ml of the hot stock for 15 minutes, then chop them and "
               "add the soaking liquid to the stock.",
               "Brown the sliced mushrooms in batches in the oil and set aside.",
               "Soften the shallot, stir in the rice for 2 minutes, then add the wine.",
               "Add the stock a ladle at a time, stirring, for about 18 minutes.",
               "Stir in the mushrooms, butter and Parmesan, rest 2 minutes and serve."],
     "subs": {"dry white wine": "Use the same amount of stock with a teaspoon of lemon juice or "
                                "white wine vinegar for acidity.",
              "arborio rice": "Carnaroli is even better; Vialone Nano also works. Long-grain rice "
                              "won't turn creamy, so avoid it."},
     "keeps": "Risotto is best eaten straight away. Leftovers keep 2 days in the fridge; they "
              "reheat poorly but make excellent arancini."},
    {"name": "chana masala", "serves": 4,
     "intro": "A North Indian chickpea curry with a tangy tomato and onion gravy.",
     "ing": [(2, "tbsp", "vegetable oil"), (1, "tsp", "cumin seeds"), (2, "", "onion|onions"),
             (1, "tbsp", "grated ginger"), (3, "", "garlic clove|garlic cloves"),
             (2, "tsp", "garam masala"), (1, "tsp", "ground coriander"), (0.5, "tsp", "turmeric"),
             (400, "g", "canned tomatoes"), (800, "g", "canned chickpeas, drained")],
     "steps": ["Sizzle the cumin seeds in the oil for 30 seconds.",
               "Add the finely chopped onions and cook for 12–15 minutes until deep golden.",
               "Stir in the ginger, garlic and ground spices for a minute.",
               "Add the tomatoes and cook down until the oil separates, about 8 minutes.",
               "Add the chickpeas and 200 ml water, simmer 15 minutes, and mash a few chickpeas "
               "to thicken."],
     "subs": {"garam masala": "Mix ½ tsp each of ground cumin, coriander and cinnamon with a "
                              "pinch of ground cloves and black pepper.",
              "canned chickpeas, drained": "Soak 300 g dried chickpeas overnight and boil for "
                                           "about an hour until tender."},
     "keeps": "It tastes even better the next day. Keep it 4 days in the fridge or freeze it for "
              "up to 3 months."},
    {"name": "banana bread", "serves": 10,
     "intro": "A moist loaf that turns overripe bananas into something everyone wants a slice of.",
     "ing": [(3, "", "very ripe banana|very ripe bananas"), (80, "g", "melted butter"),
             (150, "g", "light brown sugar"), (1, "", "egg|eggs"), (1, "tsp", "vanilla extract"),
             (1, "tsp", "baking soda"), (190, "g", "plain flour"), (0.25, "tsp", "salt")],
     "steps": ["Heat the oven to 175 °C and line a 900 g loaf tin.",
               "Mash the bananas, then whisk in the butter, sugar, egg and vanilla.",
               "Fold in the flour, baking soda and salt until just combined.",
               "Bake for 55–60 minutes, until a skewer comes out clean.",
               "Cool in the tin for 10 minutes before turning out."],
     "subs": {"egg": "Use 3 tbsp of unsweetened apple sauce or a flax egg (1 tbsp ground flaxseed "
                     "+ 3 tbsp water, rested 5 minutes).",
              "melted butter": "Use the same weight of a neutral oil; the crumb gets slightly "
                               "softer."},
     "keeps": "Wrapped, it keeps 3 days at room temperature. Slice it before freezing so you can "
              "toast pieces straight from the freezer."},
    {"name": "crème brûlée", "serves": 4,
     "intro": "A baked vanilla custard under a thin sheet of caramelised sugar.",
     "ing": [(500, "ml", "double cream"), (1, "", "vanilla pod|vanilla pods"),
             (5, "", "egg yolk|egg yolks"), (60, "g", "caster sugar"),
             (4, "tsp", "demerara sugar")],
     "steps": ["Heat the oven to 150 °C. Warm the cream with the split vanilla pod until "
               "steaming.",
               "Whisk the yolks with the caster sugar, then slowly pour in the hot cream.",
               "Strain into four ramekins set in a roasting tin and pour hot water halfway up.",
               "Bake 30–35 minutes, until set but still wobbly in the centre, then chill 4 hours.",
               "Sprinkle with demerara sugar and melt it with a blowtorch until amber."],
     "subs": {"vanilla pod": "Use 1½ tsp vanilla bean paste or 1 tsp good vanilla extract, "
                             "added after heating the cream.",
              "double cream": "Whipping cream works; the custard is a little less rich."},
     "keeps": "The custards keep 3 days covered in the fridge. Caramelise the top only just "
              "before serving or it turns sticky."},
    {"name": "mapo tofu (麻婆豆腐)", "serves": 3,
     "intro": "A Sichuan classic: silken tofu in a numbing, spicy sauce with a little minced "
              "pork.",
     "ing": [(400, "g", "silken tofu"), (150, "g", "minced pork"), (2, "tbsp", "doubanjiang"),
             (1, "tsp", "ground Sichuan pepper"), (2, "", "garlic clove|garlic cloves"),
             (1, "tbsp", "grated ginger"), (250, "ml", "chicken stock"),
             (1, "tbsp", "cornflour mixed with 2 tbsp water"), (2, "", "spring onion|spring onions")],
     "steps": ["Cut the tofu into 2 cm cubes and soak in hot salted water while you cook.",
               "Fry the pork in a little oil until crisp, then add the doubanjiang, garlic and "
               "ginger.",
               "Pour in the stock, slide in the drained tofu and simmer gently for 5 minutes.",
               "Thicken with the cornflour slurry in two additions.",
               "Finish with Sichuan pepper and sliced spring onions; serve with rice."],
     "subs": {"minced pork": "Use finely chopped shiitake mushrooms for a vegetarian version, "
                             "and vegetable stock instead of chicken.",
              "doubanjiang": "Gochujang is the closest easy swap, though it is sweeter; add a "
                             "little soy sauce to balance it."},
     "keeps": "Keep leftovers 2 days in the fridge. Tofu turns spongy when frozen, so don't "
              "freeze this one."},
    {"name": "lemon garlic chicken thighs", "serves": 4,
     "intro": "Crisp-skinned chicken thighs roasted with lemon, garlic and thyme.",
     "ing": [(8, "", "bone-in chicken thigh|bone-in chicken thighs"), (1, "", "lemon|lemons"),
             (6, "", "garlic clove|garlic cloves"), (2, "tbsp", "olive oil"),
             (4, "", "thyme sprig|thyme sprigs"), (500, "g", "baby potatoes")],
     "steps": ["Heat the oven to 210 °C.",
               "Toss the halved potatoes, smashed garlic and thyme with half the oil in a tray.",
               "Season the chicken, rub with the rest of the oil and lay it skin-side up on top.",
               "Squeeze over the lemon and tuck the squeezed halves between the pieces.",
               "Roast for 40–45 minutes until the skin is golden and the juices run clear."],
     "subs": {"bone-in chicken thigh": "Boneless thighs work; roast them for 25–30 minutes "
                                       "instead.",
              "thyme sprig": "Rosemary or oregano are fine; use 1 tsp dried herbs if that's all "
                             "you have."},
     "keeps": "Cooked chicken keeps 3 days in the fridge and up to 2 months in the freezer."},
    {"name": "minestrone", "serves": 6,
     "intro": "A thick Italian vegetable soup with beans and small pasta.",
     "ing": [(2, "tbsp", "olive oil"), (1, "", "onion|onions"), (2, "", "carrot|carrots"),
             (2, "", "celery stick|celery sticks"), (1, "", "courgette|courgettes"),
             (400, "g", "canned tomatoes"), (1.5, "l", "vegetable stock"),
             (400, "g", "canned cannellini beans"), (100, "g", "ditalini pasta"),
             (100, "g", "shredded cavolo nero")],
     "steps": ["Soften the diced onion, carrot and celery in the oil for 10 minutes.",
               "Add the courgette, tomatoes and stock and simmer for 15 minutes.",
               "Add the beans and pasta and cook until the pasta is tender.",
               "Stir in the cavolo nero for the last 3 minutes.",
               "Serve with grated Parmesan and a drizzle of good olive oil."],
     "subs": {"ditalini pasta": "Any small shape works, or broken spaghetti. For gluten-free, "
                                "use rice or diced potato.",
              "shredded cavolo nero": "Use kale, savoy cabbage or spinach (add spinach right at "
                                      "the end)."},
     "keeps": "Keeps 4 days in the fridge. If you plan to freeze it, leave out the pasta and add "
              "it fresh when reheating."},
    {"name": "buttermilk pancakes", "serves": 4,
     "intro": "Fluffy American-style pancakes.",
     "ing": [(250, "g", "plain flour"), (2, "tbsp", "sugar"), (1, "tsp", "baking powder"),
             (0.5, "tsp", "baking soda"), (480, "ml", "buttermilk"), (2, "", "egg|eggs"),
             (40, "g", "melted butter")],
     "steps": ["Whisk the dry ingredients in one bowl and the buttermilk, eggs and butter in "
               "another.",
               "Pour the wet into the dry and stir until just combined; lumps are fine.",
               "Rest the batter for 10 minutes.",
               "Cook ladlefuls on a lightly buttered pan over medium heat until bubbles "
               "appear, then flip.",
               "Serve warm with maple syrup and berries."],
     "subs": {"buttermilk": "Stir 1 tbsp lemon juice or vinegar into 480 ml milk and let it "
                            "stand for 5 minutes.",
              "melted butter": "Any neutral oil works in the batter."},
     "keeps": "Cooked pancakes freeze well for 2 months with baking paper between them; reheat "
              "in a toaster."},
    {"name": "Thai basil chicken (pad kra pao)", "serves": 2,
     "intro": "A fast, fiery stir-fry of minced chicken with holy basil, usually served with a "
              "fried egg.",
     "ing": [(300, "g", "minced chicken"), (4, "", "garlic clove|garlic cloves"),
             (3, "", "bird's eye chilli|bird's eye chillies"), (1, "tbsp", "oyster sauce"),
             (1, "tbsp", "soy sauce"), (1, "tsp", "fish sauce"), (1, "tsp", "sugar"),
             (30, "g", "holy basil leaves")],
     "steps": ["Pound the garlic and chillies to a rough paste.",
               "Stir-fry the paste in a hot wok with a little oil for 20 seconds.",
               "Add the chicken and cook on high heat, breaking it up, until no longer pink.",
               "Add the sauces and sugar with a splash of water.",
               "Toss in the basil until wilted and serve over jasmine rice."],
     "subs": {"holy basil leaves": "Thai sweet basil is the usual substitute; Italian basil "
                                   "works in a pinch but tastes different.",
              "fish sauce": "Use extra soy sauce with a squeeze of lime."},
     "keeps": "Best fresh. It keeps 2 days in the fridge; the basil darkens but the flavour "
              "holds."},
    {"name": "Greek salad", "serves": 4,
     "intro": "Horiatiki: a chunky salad of tomato, cucumber, onion and olives under a slab of "
              "feta.",
     "ing": [(4, "", "ripe tomato|ripe tomatoes"), (1, "", "cucumber|cucumbers"),
             (0.5, "", "red onion|red onions"), (1, "", "green pepper|green peppers"),
             (80, "g", "Kalamata olives"), (200, "g", "feta block"), (1, "tsp", "dried oregano"),
             (4, "tbsp", "extra-virgin olive oil")],
     "steps": ["Cut the tomatoes into wedges and the cucumber into thick half-moons.",
               "Slice the onion and pepper thinly.",
               "Combine with the olives and season lightly with salt.",
               "Lay the feta on top, sprinkle with oregano and drizzle with the oil."],
     "subs": {"Kalamata olives": "Any black olive works; green olives make it sharper.",
              "feta block": "A mild goat's cheese is the nearest match."},
     "keeps": "Dress it just before eating. Undressed, the cut vegetables keep a day in the "
              "fridge."},
    {"name": "guacamole", "serves": 4,
     "intro": "Chunky guacamole with lime, coriander and a little jalapeño.",
     "ing": [(3, "", "ripe avocado|ripe avocados"), (1, "", "lime|limes"),
             (0.25, "", "white onion|white onions"), (1, "", "jalapeño|jalapeños"),
             (10, "g", "fresh coriander"), (0.5, "tsp", "flaky salt")],
     "steps": ["Mash the avocados roughly with a fork, leaving some chunks.",
               "Finely chop the onion, jalapeño and coriander.",
               "Stir everything together with the lime juice and salt.",
               "Taste and adjust lime and salt before serving."],
     "subs": {"fresh coriander": "If coriander tastes like soap to you, use flat-leaf parsley "
                                 "and a little extra lime.",
              "jalapeño": "A pinch of chilli flakes or a few drops of hot sauce."},
     "keeps": "Press cling film directly onto the surface and it keeps about a day in the fridge; "
              "the top may still darken a little, so just stir it."},
    {"name": "overnight oats", "serves": 1,
     "intro": "A no-cook breakfast you prepare the night before.",
     "ing": [(50, "g", "rolled oats"), (120, "ml", "milk"), (60, "g", "yogurt"),
             (1, "tsp", "chia seeds"), (1, "tsp", "honey"), (80, "g", "berries")],
     "steps": ["Stir the oats, milk, yogurt, chia and honey together in a jar.",
               "Cover and refrigerate overnight, at least 6 hours.",
               "Top with berries in the morning and add a splash of milk if it's too thick."],
     "subs": {"milk": "Any plant milk works; oat and soy give the creamiest result.",
              "honey": "Maple syrup, or mashed banana for no added sugar."},
     "keeps": "Jars keep 3 days in the fridge, so you can make several at once."},
    {"name": "spaghetti aglio e olio", "serves": 2,
     "intro": "Spaghetti with garlic, olive oil and chilli: a pantry dinner in 15 minutes.",
     "ing": [(200, "g", "spaghetti"), (5, "tbsp", "olive oil"),
             (4, "", "garlic clove|garlic cloves"), (0.5, "tsp", "chilli flakes"),
             (15, "g", "flat-leaf parsley")],
     "steps": ["Cook the spaghetti in well-salted water until just al dente.",
               "Meanwhile, warm the thinly sliced garlic in the oil over low heat until pale gold.",
               "Add the chilli flakes, then a ladle of pasta water.",
               "Toss in the drained spaghetti and stir hard until the sauce turns glossy.",
               "Finish with chopped parsley."],
     "subs": {"flat-leaf parsley": "Leave it out or add lemon zest instead; the dish is about "
                                   "the garlic.",
              "chilli flakes": "A fresh red chilli, finely sliced."},
     "keeps": "Eat it immediately; reheated, the sauce splits and the pasta goes soft."},
    {"name": "okonomiyaki (お好み焼き)", "serves": 2,
     "intro": "A savoury Japanese cabbage pancake, topped with sauce, mayonnaise and bonito "
              "flakes.",
     "ing": [(100, "g", "plain flour"), (120, "ml", "dashi"), (2, "", "egg|eggs"),
             (300, "g", "finely shredded cabbage"), (2, "", "spring onion|spring onions"),
             (4, "", "rasher of pork belly|rashers of pork belly"),
             (2, "tbsp", "okonomiyaki sauce"), (1, "tbsp", "Japanese mayonnaise")],
     "steps": ["Whisk the flour, dashi and eggs into a smooth batter.",
               "Fold in the cabbage and sliced spring onions.",
               "Spoon half into an oiled pan, shape into a thick round and lay pork slices on top.",
               "Cook 5 minutes per side over medium heat until set and golden.",
               "Brush with sauce, zigzag the mayonnaise over and scatter bonito flakes."],
     "subs": {"dashi": "Water with a little soy sauce, or a light chicken stock.",
              "okonomiyaki sauce": "Mix 2 tbsp ketchup, 1 tbsp Worcestershire sauce and 1 tsp "
                                   "sugar."},
     "keeps": "Keep cooked pancakes 2 days in the fridge and reheat them in a dry pan."},
    {"name": "black bean tacos", "serves": 4,
     "intro": "Quick vegetarian tacos with spiced black beans and a crunchy slaw.",
     "ing": [(800, "g", "canned black beans"), (1, "tsp", "ground cumin"),
             (1, "tsp", "chipotle powder"), (8, "", "corn tortilla|corn tortillas"),
             (150, "g", "red cabbage"), (1, "", "lime|limes"), (100, "g", "soured cream")],
     "steps": ["Warm the drained beans with the spices and a splash of water, mashing a few.",
               "Toss the shredded cabbage with lime juice and a pinch of salt.",
               "Char the tortillas one by one in a dry pan.",
               "Fill with beans and slaw, and finish with soured cream."],
     "subs": {"chipotle powder": "Smoked paprika with a pinch of cayenne.",
              "soured cream": "Greek yogurt, or mashed avocado to keep it vegan."},
     "keeps": "The bean filling keeps 4 days in the fridge and freezes for 3 months."},
    {"name": "French onion soup", "serves": 4,
     "intro": "Deeply caramelised onions in beef stock, under cheesy toasts.",
     "ing": [(1, "kg", "onions"), (50, "g", "butter"), (1, "tbsp", "plain flour"),
             (150, "ml", "dry white wine"), (1.2, "l", "beef stock"),
             (4, "", "slice of baguette|slices of baguette"), (120, "g", "grated Gruyère")],
     "steps": ["Cook the sliced onions in the butter over low heat for 45–60 minutes, stirring "
               "now and then, until deep brown.",
               "Stir in the flour, then the wine, scraping the pan.",
               "Add the stock and simmer 20 minutes.",
               "Ladle into ovenproof bowls, top with toasted baguette and Gruyère.",
               "Grill until the cheese bubbles."],
     "subs": {"grated Gruyère": "Comté, Emmental or a mature Cheddar.",
              "beef stock": "A rich mushroom stock makes a good vegetarian version."},
     "keeps": "The soup (without the toasts) keeps 4 days in the fridge and freezes well."},
    {"name": "red lentil soup", "serves": 6,
     "intro": "A silky, lightly spiced soup of red lentils and carrot.",
     "ing": [(1, "tbsp", "olive oil"), (1, "", "onion|onions"), (2, "", "carrot|carrots"),
             (1, "tsp", "ground cumin"), (250, "g", "red lentils"), (1.4, "l", "vegetable stock"),
             (0.5, "", "lemon|lemons")],
     "steps": ["Soften the onion and carrot in the oil for 8 minutes.",
               "Add the cumin, then the rinsed lentils and stock.",
               "Simmer for 20 minutes until the lentils collapse.",
               "Blend until smooth and finish with lemon juice and salt."],
     "subs": {"red lentils": "Yellow split peas work but need about 45 minutes.",
              "vegetable stock": "Water with a stock cube, or water and an extra pinch of salt."},
     "keeps": "Keeps 5 days in the fridge and 3 months in the freezer; it thickens as it sits, "
              "so loosen it with water."},
    {"name": "chocolate chip cookies", "serves": 24,
     "intro": "Chewy cookies with crisp edges and plenty of chocolate.",
     "ing": [(225, "g", "soft butter"), (150, "g", "light brown sugar"),
             (100, "g", "caster sugar"), (2, "", "egg|eggs"), (1, "tsp", "vanilla extract"),
             (300, "g", "plain flour"), (1, "tsp", "baking soda"), (250, "g", "chocolate chips")],
     "steps": ["Beat the butter and sugars until pale, then beat in the eggs and vanilla.",
               "Mix in the flour and baking soda, then the chocolate.",
               "Chill the dough for at least 30 minutes.",
               "Bake tablespoon-sized balls at 180 °C for 10–12 minutes, until golden at the "
               "edges but soft in the middle."],
     "subs": {"chocolate chips": "A chopped chocolate bar gives puddles of chocolate and is "
                                 "even better.",
              "caster sugar": "Regular granulated sugar is fine."},
     "keeps": "Baked cookies keep 5 days in a tin. Raw dough balls freeze for 3 months; bake "
              "them from frozen with 2 extra minutes."},
    {"name": "rosemary focaccia", "serves": 8,
     "intro": "An airy, olive-oil-rich flatbread that needs almost no kneading.",
     "ing": [(500, "g", "strong white flour"), (400, "ml", "lukewarm water"),
             (7, "g", "instant yeast"), (10, "g", "salt"), (5, "tbsp", "olive oil"),
             (2, "", "rosemary sprig|rosemary sprigs"), (1, "tsp", "flaky salt")],
     "steps": ["Mix the flour, water, yeast and salt into a sticky dough.",
               "Fold it four times over the first hour, then let it rise until doubled.",
               "Tip into a well-oiled tin and stretch to the corners; rest 30 minutes.",
               "Dimple with oiled fingers, add rosemary, oil and flaky salt.",
               "Bake at 220 °C for 22–25 minutes until deep golden."],
     "subs": {"strong white flour": "Plain flour works; the crumb is a bit less open.",
              "instant yeast": "Use 10 g active dry yeast, dissolved in the water first."},
     "keeps": "Best the day it's baked. Wrap leftovers and freeze; reheat in a hot oven for 5 "
              "minutes."},
    {"name": "tzatziki", "serves": 6,
     "intro": "A cool Greek yogurt dip with cucumber, garlic and dill.",
     "ing": [(1, "", "cucumber|cucumbers"), (400, "g", "Greek yogurt"),
             (1, "", "garlic clove|garlic cloves"), (1, "tbsp", "olive oil"),
             (1, "tbsp", "chopped dill"), (1, "tsp", "red wine vinegar")],
     "steps": ["Grate the cucumber, salt it lightly and squeeze out as much water as you can.",
               "Stir it into the yogurt with the grated garlic, oil, dill and vinegar.",
               "Chill for 30 minutes so the flavours come together."],
     "subs": {"chopped dill": "Fresh mint is the classic alternative.",
              "Greek yogurt": "Strain regular yogurt through a cloth for an hour."},
     "keeps": "Keeps 3 days in the fridge. Don't freeze it; the yogurt turns grainy."},
    {"name": "salmon teriyaki", "serves": 2,
     "intro": "Pan-seared salmon glazed with a homemade teriyaki sauce.",
     "ing": [(2, "", "salmon fillet|salmon fillets"), (3, "tbsp", "soy sauce"),
             (2, "tbsp", "mirin"), (1, "tbsp", "sake"), (1, "tbsp", "honey"),
             (1, "tsp", "sesame seeds")],
     "steps": ["Mix the soy sauce, mirin, sake and honey.",
               "Sear the salmon skin-side down for 4 minutes, then flip for 2.",
               "Pour in the sauce and let it bubble, spooning it over the fish until glossy.",
               "Scatter with sesame seeds and serve with rice and greens."],
     "subs": {"sake": "Dry sherry, or just leave it out and add a splash of water.",
              "mirin": "1 tbsp rice vinegar with 1 tsp sugar."},
     "keeps": "Cooked salmon keeps 2 days in the fridge; eat leftovers cold on a rice bowl."},
]

FRACTIONS = {0.25: "¼", 0.5: "½", 0.75: "¾", 0.33: "⅓", 0.67: "⅔"}


def fmt_qty(q: float, unit: str) -> str:
    if unit in ("g", "ml"):
        q = round(q / 5) * 5 if q >= 50 else round(q)
        return str(int(q))
    if unit in ("l", "kg"):
        return f"{q:g}" if q == round(q, 1) else f"{round(q, 1):g}"
    whole = int(q)
    frac = q - whole
    best = min([0.0, 0.25, 0.33, 0.5, 0.67, 0.75, 1.0], key=lambda f: abs(f - frac))
    if best == 1.0:
        whole, best = whole + 1, 0.0
    if best == 0.0:
        return str(max(whole, 0)) if whole else "¼"
    return (str(whole) if whole else "") + FRACTIONS[best]


def fmt_ing(q: float, unit: str, item: str) -> str:
    sing, _, plur = item.partition("|")
    s = fmt_qty(q, unit)
    if unit:
        return f"{s} {unit} {sing}"
    one = s in ("1", "½", "¼", "⅓", "¾", "⅔")
    return f"{s} {sing if one or not plur else plur}"


def item_name(item: str) -> str:
    return item.partition("|")[0]


def recipe_text(d) -> str:
    lines = [d["intro"], "", f"Ingredients (serves {d['serves']}):"]
    lines += ["- " + fmt_ing(*i) for i in d["ing"]]
    lines += ["", "Method:"]
    lines += [f"{k}. {s}" for k, s in enumerate(d["steps"], 1)]
    return "\n".join(lines)


def r_howto(rng):
    d = rng.choice(DISHES)
    ins = rng.choice([f"How do I make {d['name']}?", f"Give me a recipe for {d['name']}.",
                      f"Can you share a simple {d['name']} recipe?",
                      f"I want to cook {d['name']} tonight. What do I need and how do I make it?"])
    return {"instruction": ins, "input": "", "output": recipe_text(d)}


def r_subs(rng):
    d = rng.choice(DISHES)
    item = rng.choice(list(d["subs"]))
    ins = rng.choice([f"What can I use instead of {item} in {d['name']}?",
                      f"I'm out of {item}. Is there a substitute that works in {d['name']}?",
                      f"Can I make {d['name']} without {item}?"])
    lead = rng.choice(["", "Yes. ", "You have a few options. "]) if "without" in ins else ""
    return {"instruction": ins, "input": "", "output": lead + d["subs"][item]}


def r_keeps(rng):
    d = rng.choice(DISHES)
    ins = rng.choice([f"How long does {d['name']} keep?", f"Can I freeze {d['name']}?",
                      f"How should I store leftover {d['name']}?",
                      f"Can I make {d['name']} ahead of time?"])
    return {"instruction": ins, "input": "", "output": d["keeps"]}


def r_scale(rng):
    d = rng.choice([d for d in DISHES if d["serves"] <= 10])
    n = rng.choice([x for x in (1, 2, 3, 4, 6, 8, 10, 12, 16) if x != d["serves"]])
    f = n / d["serves"]
    ins = rng.choice([f"Scale this recipe to serve {n}.", f"Adjust these quantities for {n} "
                      f"people.", f"I need to make this for {n}. What are the new amounts?"])
    inp = f"{cap(d['name'])}, serves {d['serves']}:\n" + "\n".join(
        "- " + fmt_ing(*i) for i in d["ing"])
    out = [f"For {n} servings (×{f:.3g}):"]
    out += ["- " + fmt_ing(q * f, u, it) for q, u, it in d["ing"]]
    note = rng.choice([
        "Cooking times stay roughly the same, but use a wider pan so nothing steams.",
        "Round the counted items to whatever is practical; a little more or less is fine.",
        "Taste before adding all of the salt and spices; they don't always need to scale "
        "exactly.",
    ]) if f > 1 else rng.choice([
        "Use a smaller pan so the sauce doesn't reduce too fast.",
        "Check it a few minutes early; smaller batches cook a little faster.",
    ])
    return {"instruction": ins, "input": inp, "output": "\n".join(out) + "\n\n" + note}


CONV = [("all-purpose flour", 125, "g"), ("granulated sugar", 200, "g"),
        ("packed brown sugar", 220, "g"), ("butter", 227, "g"), ("rolled oats", 90, "g"),
        ("whole milk", 240, "ml"), ("honey", 340, "g"), ("cocoa powder", 85, "g"),
        ("uncooked long-grain rice", 185, "g"), ("grated Parmesan", 100, "g"),
        ("chopped walnuts", 120, "g"), ("water", 240, "ml"), ("powdered sugar", 120, "g"),
        ("plain yogurt", 245, "g")]
CUPS = [(0.25, "¼"), (0.33, "⅓"), (0.5, "½"), (0.67, "⅔"), (0.75, "¾"), (1, "1"), (1.5, "1½"),
        (2, "2"), (3, "3")]


def r_convert(rng):
    items = rng.sample(CONV, rng.randint(3, 5))
    rows_in, rows_out = [], []
    for name, per_cup, unit in items:
        q, label = rng.choice(CUPS)
        word = "cup" if q <= 1 else "cups"
        rows_in.append(f"{label} {word} {name}")
        rows_out.append(f"- {label} {word} {name} ≈ {round(q * per_cup / 5) * 5} {unit}")
    ins = rng.choice(["Convert these US cup measurements to grams.",
                      "Convert these measurements to metric, please.",
                      "What are these amounts in grams and millilitres?"])
    note = rng.choice(["Weights are approximate; flour in particular depends on how it's "
                       "scooped.", "A kitchen scale makes baking far more consistent than cups.",
                       ""])
    out = "\n".join(rows_out) + ("\n\n" + note if note else "")
    return {"instruction": ins, "input": "\n".join(rows_in), "output": out}


GENERAL_COOKING = [
    ("What's the difference between baking soda and baking powder?",
     "Baking soda is pure sodium bicarbonate and needs an acid in the recipe (buttermilk, yogurt, "
     "lemon, brown sugar) to react. Baking powder is baking soda with the acid already mixed in, "
     "so it works on its own. They aren't interchangeable one-to-one: soda is about three times "
     "stronger."),
    ("Why did my bread come out dense?",
     "The usual causes are under-proofing, old yeast, too much flour, or not enough kneading to "
     "build gluten. Check that the dough roughly doubles in the first rise and springs back slowly "
     "when poked before it goes in the oven."),
    ("How do I know when oil is hot enough for deep-frying?",
     "Use a thermometer and aim for 170–180 °C. Without one, drop in a cube of bread: it should "
     "sizzle immediately and turn golden in about 60 seconds. If it browns in 20 seconds the oil "
     "is too hot."),
    ("Is it safe to refreeze meat that has thawed?",
     "If it thawed in the fridge and stayed cold, yes, although the texture may suffer. If it "
     "thawed on the counter or in warm water, cook it first; cooked dishes can then be frozen."),
    ("Why do recipes say to salt pasta water?",
     "Pasta absorbs water as it cooks, and salting the water is the only chance to season the "
     "pasta itself. About 10 g of salt per litre is a good starting point."),
    ("How can I stop my onions from making me cry?",
     "Use a very sharp knife, which crushes fewer cells, and chill the onion for 15 minutes "
     "first. Cutting near an extractor fan or an open window helps too."),
    ("What does 'fold' mean in a baking recipe?",
     "Folding means combining gently so you don't knock out air: cut down through the middle with "
     "a spatula, sweep along the bottom, and turn the mixture over on itself while rotating the "
     "bowl."),
    ("My sauce is too salty. Can I fix it?",
     "Dilute it with unsalted stock, cream, or tomato, or add a splash of acid such as lemon "
     "juice, which makes salt less noticeable. The old trick of adding a potato barely works."),
    ("How long should I rest a steak?",
     "About half the cooking time, or 5 minutes for a thin steak and up to 10 for a thick one. "
     "Resting lets the juices redistribute so less runs out when you slice it."),
    ("What is the Maillard reaction?",
     "It's the browning reaction between amino acids and sugars that starts at around 140 °C. It "
     "creates the savoury flavours of seared meat, toast, roasted coffee and bread crusts, which "
     "is why a dry surface and a hot pan matter."),
    ("Can I use olive oil for high-heat cooking?",
     "Yes. Refined olive oil handles searing easily, and even extra-virgin olive oil is more "
     "stable than its smoke point suggests. Save your best bottle for drizzling, where you can "
     "taste it."),
    ("How do I keep rice from getting sticky?",
     "Rinse it until the water runs nearly clear, use the right ratio (about 1:1.5 for basmati), "
     "and let it stand covered for 10 minutes off the heat before fluffing with a fork."),
    ("What is a roux?",
     "A roux is equal weights of fat and flour cooked together and used to thicken sauces. A "
     "white roux is cooked for a minute or two for béchamel; a dark roux is cooked much longer, "
     "as in a gumbo, for a nutty flavour."),
    ("How do I sharpen a kitchen knife at home?",
     "A whetstone gives the best edge: soak it if it's a water stone, hold the blade at about 15–20 "
     "degrees, and stroke each side evenly from heel to tip, coarse grit first and fine grit "
     "after. A honing steel between sharpenings keeps the edge aligned."),
    ("Why did my cookies spread so much?",
     "Butter that was too soft or melted, too little flour, or a hot baking sheet are the usual "
     "culprits. Chill the dough for 30 minutes and let trays cool between batches."),
    ("What's the best way to cook dried beans?",
     "Soak them overnight in plenty of water, drain, then simmer gently in fresh water with a bay "
     "leaf until creamy inside, usually 45 to 90 minutes. Salt the water early; it doesn't make "
     "them tough."),
    ("How do I make a vinaigrette?",
     "Start with one part vinegar or lemon juice to three parts oil, add a little mustard to help "
     "it emulsify, season with salt and pepper, and shake it in a jar. Taste it on a leaf, not a "
     "spoon."),
    ("Is it worth buying a cast-iron pan?",
     "If you sear meat, bake cornbread or like skillet dishes, yes: it holds heat brilliantly and "
     "lasts for generations. It is heavy, needs drying after washing, and isn't ideal for long "
     "acidic simmers."),
    ("What's umami?",
     "Umami is the savoury taste produced by glutamates and certain nucleotides. Parmesan, "
     "tomatoes, soy sauce, miso, mushrooms and anchovies are rich in it, and combining them adds "
     "depth to a dish."),
    ("How ripe should a mango be before I eat it?",
     "Ignore the colour and press gently: a ripe mango gives slightly, like a ripe avocado, and "
     "smells fruity near the stem. Hard mangoes ripen in a few days at room temperature."),
    ("¿Cómo hago que las tortillas de maíz no se rompan?",
     "Caliéntalas en un comal o sartén seca hasta que estén flexibles y mantenlas envueltas en un "
     "paño limpio. Si están muy secas, rocíalas con unas gotas de agua antes de calentarlas."),
    ("What temperature should chicken be cooked to?",
     "74 °C (165 °F) in the thickest part is the usual safe target. Thighs are more pleasant "
     "taken a little higher, to around 80 °C, because the connective tissue softens."),
    ("Why does my homemade mayonnaise split?",
     "Usually the oil went in too fast, or the ingredients were at very different temperatures. "
     "Rescue it by whisking a fresh yolk in a clean bowl and slowly dribbling the split mixture "
     "into it."),
    ("Give me three ideas for using up stale bread.",
     "1. Panzanella, a Tuscan salad of torn bread, ripe tomatoes, onion and basil.\n2. Bread "
     "pudding, with eggs, milk, sugar and a handful of raisins.\n3. Breadcrumbs: blitz, toast in "
     "olive oil with garlic and scatter over pasta."),
]

HISTORY_RECIPES = [
    {"instruction": "Can I make it the day before?",
     "input": "",
     "output": "Yes. Assemble it up to the brushing stage, cover, and refrigerate overnight. Brush "
               "with egg and bake straight from the fridge, adding 5–10 minutes to the time.",
     "history": [["What's a good vegetarian main for a dinner party?",
                  "A mushroom and chestnut Wellington is a showstopper: a filling of sautéed "
                  "mushrooms, chestnuts, spinach and thyme wrapped in puff pastry and baked until "
                  "golden."]]},
    {"instruction": "And how much water for brown rice?",
     "input": "",
     "output": "Brown rice needs more water and time: about 1 part rice to 2 parts water, "
               "simmered covered for 40–45 minutes, then rested for 10.",
     "history": [["How much water do I need for white basmati rice?",
                  "Use 1 part rinsed basmati to 1.5 parts water. Bring to a boil, cover, simmer "
                  "on the lowest heat for 12 minutes, then rest for 10."]]},
    {"instruction": "What wine would go with that?",
     "input": "",
     "output": "A dry Riesling or a Grüner Veltliner handles the spice and citrus well. If you "
               "prefer red, pick something light and chilled, such as a Gamay.",
     "history": [["I'm grilling prawns with chilli, lime and garlic. Any tips?",
                  "Marinate them for no more than 20 minutes, since the lime starts to cook them, "
                  "and grill on high heat for about 2 minutes per side, just until opaque."],
                 ["Should I leave the shells on?",
                  "Shell-on prawns stay juicier and pick up a smoky flavour, but they're messier "
                  "to eat. Splitting the backs lets the marinade in while keeping the shell."]]},
    {"instruction": "Can I swap the butter for coconut oil?",
     "input": "",
     "output": "Yes, use the same weight of solid coconut oil. The crumble will be a little "
               "crisper, and refined coconut oil avoids a coconut taste if you don't want it.",
     "history": [["What's the ratio for a crumble topping?",
                  "A reliable ratio is 2 parts flour to 1 part butter to 1 part sugar by weight, "
                  "for example 200 g flour, 100 g cold butter and 100 g demerara sugar, rubbed "
                  "together until it looks like rough breadcrumbs."]]},
    {"instruction": "これは冷凍できますか？",
     "input": "",
     "output": "はい、できます。一食分ずつラップで包み、冷凍用保存袋に入れれば約1か月保存できます。"
               "食べるときは電子レンジで解凍してください。",
     "history": [["鶏そぼろ丼の作り方を教えてください。",
                  "鶏ひき肉200gに醤油大さじ2、砂糖大さじ1、みりん大さじ1、おろし生姜を加え、"
                  "菜箸4本で混ぜながら中火でポロポロになるまで炒めます。炒り卵と一緒にご飯に"
                  "のせれば完成です。"]]},
]


def _alpaca_text(r) -> str:
    parts = [r["instruction"], r["input"], r["output"]]
    for q, a in r.get("history", []):
        parts += [q, a]
    return "\n".join(parts)


def build_recipes(rng: random.Random):
    general = []
    for q, a in GENERAL_COOKING:
        rec = {"instruction": q, "input": "", "output": a}
        GUARD.require(_alpaca_text(rec), q)
        general.append(rec)
    for rec in HISTORY_RECIPES:
        GUARD.require(_alpaca_text(rec), rec["instruction"])
    empty = {"instruction": "Write a short poem about a sourdough starter.", "input": "",
             "output": ""}
    GUARD.require(_alpaca_text(empty) + " (empty)", "empty output")
    gens = [r_howto, r_subs, r_keeps, r_scale]
    convert = take(rng, 8, lambda r: (lambda x: (x, _alpaca_text(x)))(r_convert(r)), "convert")
    dish = take(rng, 59, lambda r: (lambda x: (x, _alpaca_text(x)))(rng.choice(gens)(r)),
                "dish recipes")
    records = general + HISTORY_RECIPES + [empty] + convert + dish
    rng.shuffle(records)
    n_unique = len(records)
    # 3 exact duplicates of earlier records, inserted after their originals.
    originals = sorted(rng.sample(range(10, 60), 3))
    orig_objs = [records[i] for i in originals]
    for obj in orig_objs:
        start = records.index(obj) + 15
        records.insert(rng.randint(start, len(records)), copy.deepcopy(obj))
    defects = []
    first = {}
    for i, r in enumerate(records, 1):
        key = json.dumps(r, sort_keys=True, ensure_ascii=False)
        if key in first:
            defects.append((i, "duplicate_exact", first[key]))
        else:
            first[key] = i
        if r["output"] == "":
            defects.append((i, "empty_output", None))
    defects.sort()
    stats = {"unique": n_unique, "history": sum(1 for r in records if "history" in r),
             "with_input": sum(1 for r in records if r["input"]),
             "general": len(general), "convert": len(convert), "dish": len(dish)}
    return records, defects, stats


# =========================================================================== 3. travel (ShareGPT)

DESTS = [
    {"name": "Lisbon", "country": "Portugal", "season": "March to May and September to October",
     "avoid": "August is hot and crowded", "currency": "euro",
     "airport": "The red Metro line runs from the airport to the centre in about 25 minutes; "
                "change to the green or blue line for Baixa. A taxi costs roughly €15–20.",
     "areas": [("Alfama", "wander the steep lanes and hear fado in the evening"),
               ("Belém", "see the Jerónimos Monastery and try a pastel de nata at the source"),
               ("Bairro Alto", "join the street-side crowd for a drink at sunset"),
               ("LX Factory", "browse the bookshop and design stores in an old textile mill")],
     "food": ["bacalhau à brás", "grilled sardines", "pastéis de nata", "bifana sandwiches"],
     "trips": [("Sintra", "a 40-minute train from Rossio", "palaces and forested hills"),
               ("Cascais", "a 40-minute coastal train from Cais do Sodré", "beaches and a "
                "relaxed seaside town")],
     "transit": "Buy a Viva Viagem card for the Metro, trams and ferries; tram 28 is scenic but "
                "packed, so ride it early.",
     "budget": "€90–140 a day", "climate": "mild and breezy, with cool evenings"},
    {"name": "Kyoto", "country": "Japan", "season": "late March to early April for cherry "
     "blossom, or mid to late November for autumn colour", "avoid": "Golden Week in early May is "
     "very busy", "currency": "yen",
     "airport": "From Kansai Airport, the Haruka limited express reaches Kyoto Station in about "
                "75 minutes; from Osaka Itami, the limousine bus takes about 55 minutes.",
     "areas": [("Higashiyama", "walk from Kiyomizu-dera down the preserved lanes to Yasaka "
                "Shrine"),
               ("Arashiyama", "visit the bamboo grove before 8 am and cross the Togetsukyō "
                "bridge"),
               ("Fushimi Inari", "hike through the torii gates up the mountain"),
               ("Nishiki Market", "graze on pickles, tamagoyaki and matcha sweets")],
     "food": ["yudofu (simmered tofu)", "kaiseki", "matcha parfait", "saba-zushi"],
     "trips": [("Nara", "45 minutes by the Kintetsu line", "the great Buddha at Tōdai-ji and "
                "the deer park"),
               ("Uji", "about 30 minutes by JR", "the Byōdō-in temple and green tea tastings")],
     "transit": "Buses cover most sights but get crowded; combine the subway with walking, and "
                "use an IC card such as ICOCA.",
     "budget": "¥15,000–25,000 a day", "climate": "hot and humid in summer, crisp in autumn"},
    {"name": "Reykjavík", "country": "Iceland", "season": "June to August for midnight sun and "
     "open highland roads, or October to March for the northern lights", "avoid": "winter days "
     "are only four or five hours long", "currency": "Icelandic króna",
     "airport": "The Flybus runs from Keflavík to the BSÍ terminal in about 45 minutes, with "
                "hotel drop-offs for a small extra fee.",
     "areas": [("Hallgrímskirkja", "ride up the church tower for the view over the coloured "
                "roofs"),
               ("the Old Harbour", "book a whale-watching trip or visit the maritime museum"),
               ("Harpa", "see the glass concert hall light up at night"),
               ("Laugavegur", "browse wool shops and cafés on the main street")],
     "food": ["lamb soup (kjötsúpa)", "skyr", "plokkfiskur", "a hot dog from a harbour stand"],
     "trips": [("the Golden Circle", "a full day by car or tour", "Þingvellir, Geysir and "
                "Gullfoss waterfall"),
               ("the Reykjanes peninsula", "about an hour's drive", "lava fields and geothermal "
                "lagoons")],
     "transit": "The centre is walkable; for anything beyond it, rent a car or book tours, "
                "since buses outside town are infrequent.",
     "budget": "ISK 30,000–45,000 a day", "climate": "cool and changeable even in summer"},
    {"name": "Oaxaca", "country": "Mexico", "season": "October to April, the dry season",
     "avoid": "late summer brings afternoon storms", "currency": "Mexican peso",
     "airport": "A shared airport van (colectivo) or a fixed-price taxi reaches the centro in "
                "about 25 minutes; buy the ticket at the desk inside arrivals.",
     "areas": [("the Zócalo", "people-watch from a café under the arcades"),
               ("Santo Domingo", "tour the church and the ethnobotanical garden"),
               ("Mercado 20 de Noviembre", "pick meat in the smoke-filled grill hall"),
               ("Jalatlaco", "stroll the murals of one of the oldest neighbourhoods")],
     "food": ["mole negro", "tlayudas", "chapulines (toasted grasshoppers)", "tejate"],
     "trips": [("Monte Albán", "20 minutes by shuttle", "Zapotec ruins on a flattened "
                "mountaintop"),
               ("Hierve el Agua", "about 2 hours by car", "mineral springs above petrified "
                "waterfalls")],
     "transit": "The centre is compact and walkable; use taxis at night and agree the fare "
                "first.",
     "budget": "MX$1,200–2,000 a day", "climate": "warm days and cool nights, at 1,550 m"},
    {"name": "Cape Town", "country": "South Africa", "season": "November to March for beach "
     "weather, or September and October for spring flowers", "avoid": "June to August is wet "
     "and windy", "currency": "rand",
     "airport": "Ride-hailing apps and metered taxis reach the city bowl in about 25 minutes "
                "outside rush hour.",
     "areas": [("Table Mountain", "take the cable car or hike Platteklip Gorge early in the day"),
               ("Bo-Kaap", "photograph the colourful houses and learn about Cape Malay history"),
               ("the V&A Waterfront", "catch the ferry to Robben Island"),
               ("Kalk Bay", "browse junk shops and eat fish and chips by the harbour")],
     "food": ["bobotie", "Cape Malay curry", "braai", "koeksisters"],
     "trips": [("the Cape Peninsula", "a full day by car", "Boulders Beach penguins and Cape "
                "Point"),
               ("Stellenbosch", "under an hour's drive", "wine estates in the mountains")],
     "transit": "Use ride-hailing apps rather than walking after dark, and rent a car for the "
                "peninsula.",
     "budget": "R1,500–2,500 a day", "climate": "sunny with a strong wind called the Cape "
     "Doctor"},
    {"name": "Ljubljana", "country": "Slovenia", "season": "May to September",
     "avoid": "November can be grey and foggy", "currency": "euro",
     "airport": "The airport shuttle or the regional bus reaches the centre in 30–45 minutes.",
     "areas": [("the old town", "cross the Triple Bridge and browse the riverside market"),
               ("Ljubljana Castle", "take the funicular up for views of the Alps"),
               ("Tivoli Park", "walk the Jakopič promenade with its open-air photo exhibitions"),
               ("Metelkova", "see the street art of the former army barracks")],
     "food": ["kranjska klobasa", "štruklji", "jota soup", "potica"],
     "trips": [("Lake Bled", "an hour by bus", "the island church and the cream cake"),
               ("Škocjan Caves", "about 75 minutes by car", "a vast underground canyon")],
     "transit": "The centre is mostly car-free; rent a bike from the BicikeLJ stations.",
     "budget": "€80–120 a day", "climate": "warm summers and cold, sometimes snowy, winters"},
    {"name": "Hanoi", "country": "Vietnam", "season": "October to December and March to April",
     "avoid": "June to August is hot, humid and rainy", "currency": "dong",
     "airport": "Bus 86 runs from Nội Bài to the Old Quarter in about an hour; a taxi takes 35–45 "
                "minutes.",
     "areas": [("the Old Quarter", "get lost in streets named after the goods once sold there"),
               ("Hoàn Kiếm Lake", "join the morning tai chi crowd"),
               ("the Temple of Literature", "visit Vietnam's first university"),
               ("Train Street", "watch the train squeeze between the houses")],
     "food": ["phở bò", "bún chả", "bánh mì", "egg coffee (cà phê trứng)"],
     "trips": [("Hạ Long Bay", "about 2.5 hours by the expressway", "limestone karsts by boat"),
               ("Ninh Bình", "about 2 hours by road", "rowing trips through rice fields and "
                "caves")],
     "transit": "Use Grab for cars and motorbike taxis; crossing the street means walking slowly "
                "and steadily.",
     "budget": "₫900,000–1,800,000 a day", "climate": "cool and drizzly in winter, steamy in "
     "summer"},
    {"name": "Montréal", "country": "Canada", "season": "June to September, or December to "
     "February if you love snow", "avoid": "April is slushy", "currency": "Canadian dollar",
     "airport": "The 747 express bus runs 24 hours a day from Trudeau airport downtown in 45–60 "
                "minutes.",
     "areas": [("Vieux-Montréal", "walk the cobbled streets to the Notre-Dame Basilica"),
               ("the Plateau", "eat a bagel from Saint-Viateur and browse the stairs-fronted "
                "streets"),
               ("Mont-Royal", "climb to the Kondiaronk lookout"),
               ("Jean-Talon Market", "shop for maple products and local cheese")],
     "food": ["poutine", "smoked meat sandwiches", "Montréal bagels", "tourtière"],
     "trips": [("Québec City", "about 3 hours by train or car", "the walled old town"),
               ("Mont-Tremblant", "90 minutes by car", "lakes, hiking and a ski village")],
     "transit": "The Métro is quick and clean; in winter the underground city links many "
                "downtown buildings.",
     "budget": "CA$180–280 a day", "climate": "humid summers and very cold winters"},
    {"name": "Cusco", "country": "Peru", "season": "May to September, the dry season",
     "avoid": "January and February are the wettest months, and the Inca Trail closes in "
              "February", "currency": "sol",
     "airport": "A taxi from the airport to the historic centre takes 15–20 minutes.",
     "areas": [("the Plaza de Armas", "see the cathedral and the Jesuit church"),
               ("San Blas", "browse artisan workshops on the steep cobbled streets"),
               ("Qorikancha", "look at Inca stonework beneath the Santo Domingo convent"),
               ("Sacsayhuamán", "walk up to the zigzag walls above the city")],
     "food": ["cuy al horno", "lomo saltado", "chicha morada", "anticuchos"],
     "trips": [("Machu Picchu", "a train to Aguas Calientes, then a bus", "the Inca citadel"),
               ("the Sacred Valley", "a day by car or tour", "Pisac market and the terraces of "
                "Moray")],
     "transit": "At 3,400 m, take the first day slowly, drink plenty of water and go easy on "
                "alcohol.",
     "budget": "S/250–400 a day", "climate": "sunny days and near-freezing nights in the dry "
     "season"},
    {"name": "Tromsø", "country": "Norway", "season": "late September to March for the "
     "northern lights, or late May to July for the midnight sun", "avoid": "mid-December has "
     "almost no daylight", "currency": "Norwegian krone",
     "airport": "The airport bus takes about 15 minutes to the centre.",
     "areas": [("the Arctic Cathedral", "go to a midnight-sun concert"),
               ("Fjellheisen", "take the cable car up for views over the island"),
               ("Polaria", "see the Arctic aquarium"),
               ("Storgata", "find cosy cafés on the main street")],
     "food": ["bacalao stew", "reindeer stew (bidos)", "fresh king crab", "skillingsboller"],
     "trips": [("Kvaløya", "a short drive", "fjord views and aurora hunting away from city "
                "light"),
               ("Lyngen Alps", "about 2 hours with a ferry", "dog-sledding and steep peaks")],
     "transit": "Buses serve the island well; for aurora hunting, join a tour or rent a car "
                "with winter tyres.",
     "budget": "NOK 1,800–2,800 a day", "climate": "cold, dark winters and cool summers"},
    {"name": "Marrakech", "country": "Morocco", "season": "March to May and October to November",
     "avoid": "July and August often pass 40 °C", "currency": "dirham",
     "airport": "Airport bus 19 loops to Jemaa el-Fna in about 30 minutes; taxis take 20 "
                "minutes, but agree the price before getting in.",
     "areas": [("Jemaa el-Fna", "see the square come alive with food stalls at dusk"),
               ("the Medina souks", "bargain for leather, lamps and spices"),
               ("Jardin Majorelle", "visit the blue garden early before the crowds"),
               ("the Bahia Palace", "admire the painted ceilings and tiled courtyards")],
     "food": ["tagine", "couscous on Friday", "harira soup", "mint tea"],
     "trips": [("the Atlas Mountains", "about 90 minutes to Imlil", "Berber villages and "
                "mountain walks"),
               ("Essaouira", "3 hours by bus", "a windy blue-and-white harbour town")],
     "transit": "The medina is best on foot; hire a licensed guide for your first morning.",
     "budget": "MAD 900–1,500 a day", "climate": "dry heat by day, chilly desert nights"},
    {"name": "Edinburgh", "country": "Scotland", "season": "May to September",
     "avoid": "book months ahead if you travel during the August festivals",
     "currency": "pound sterling",
     "airport": "The tram reaches Princes Street in about 35 minutes; the Airlink 100 bus is a "
                "little quicker when traffic is light.",
     "areas": [("the Royal Mile", "walk from the castle down to Holyrood"),
               ("Arthur's Seat", "hike the extinct volcano for city views"),
               ("Dean Village", "follow the Water of Leith walkway"),
               ("Leith", "eat seafood along the Shore")],
     "food": ["haggis, neeps and tatties", "Cullen skink", "cranachan", "a fish supper"],
     "trips": [("St Andrews", "about 90 minutes by train and bus", "the old course and the "
                "ruined cathedral"),
               ("Stirling", "under an hour by train", "the castle and the Wallace Monument")],
     "transit": "The centre is walkable but hilly; Lothian buses cover the rest.",
     "budget": "£120–180 a day", "climate": "cool, damp and changeable"},
]

TRAVEL_SYSTEMS = [
    "You are a friendly travel planner. Give practical advice and remind travellers to check "
    "official sources for visas and entry rules.",
    "You are an experienced travel agent. Keep answers organised and mention budget where "
    "relevant.",
    "You help people plan trips. Be specific: name places, times and rough prices.",
]


def t_itinerary(rng, d):
    n = rng.randint(2, 4)
    who = rng.choice(["", " with my partner", " with two kids", " solo", " with my parents"])
    q = rng.choice([f"Plan a {n}-day trip to {d['name']}{who}.",
                    f"I'll have {n} days in {d['name']}{who}. What should I do?",
                    f"Can you sketch a {n}-day itinerary for {d['name']}?"])
    areas = rng.sample(d["areas"], min(n, len(d["areas"])))
    food = rng.sample(d["food"], len(d["food"]))
    lines = [rng.choice([f"Here's a relaxed {n}-day plan for {d['name']}:",
                         f"{n} days is a good amount of time for {d['name']}. A suggestion:",
                         f"Here is one way to spend {n} days in {d['name']}:"])]
    for k in range(n):
        if k == n - 1 and n >= 3:
            place, how, why = rng.choice(d["trips"])
            lines.append(f"Day {k + 1}: day trip to {place} ({how}) for {why}.")
        else:
            a, what = areas[k % len(areas)]
            lines.append(f"Day {k + 1}: start in {a} to {what}; for dinner, try "
                         f"{food[k % len(food)]}.")
    lines.append(rng.choice(["", d["transit"], f"Budget around {d['budget']} per person for "
                             f"mid-range hotels and meals."]))
    return q, "\n".join(x for x in lines if x)


def t_season(rng, d):
    q = rng.choice([f"When is the best time to visit {d['name']}?",
                    f"What's the weather like in {d['name']}, and when should I go?",
                    f"Is {rng.choice(MONTHS)} a good month for {d['name']}?"])
    a = join(f"The best time for {d['name']} is {d['season']}.",
             f"Keep in mind that {d['avoid']}.",
             rng.choice(["", f"Expect it to be {d['climate']}.",
                         "Shoulder seasons also mean lower hotel prices."]))
    return q, a


def t_airport(rng, d):
    q = rng.choice([f"How do I get from the airport to the centre of {d['name']}?",
                    f"Landing in {d['name']} late at night. Best way into town?",
                    f"What's the cheapest airport transfer in {d['name']}?"])
    return q, join(d["airport"], rng.choice(["", "Have a little local cash for the first day.",
                                             d["transit"]]))


def t_budget(rng, d):
    q = rng.choice([f"How expensive is {d['name']}?",
                    f"What daily budget should I plan for {d['name']}?",
                    f"Is {d['name']} affordable for a student?"])
    a = join(f"A mid-range traveller spends roughly {d['budget']} in {d['name']}, including a "
             f"double room, meals and local transport. The local currency is the "
             f"{d['currency']}.",
             rng.choice(["Hostels and market food can cut that by almost half.",
                         "Card payments are widely accepted, but small vendors may want cash.",
                         ""]))
    return q, a


def t_food(rng, d):
    q = rng.choice([f"What should I eat in {d['name']}?",
                    f"Which local dishes are a must in {d['name']}?",
                    f"Foodie heading to {d['name']}. Recommendations?"])
    dishes = rng.sample(d["food"], 3)
    a = join(f"Don't leave {d['name']} without trying {dishes[0]}, {dishes[1]} and {dishes[2]}.",
             rng.choice([f"Markets and small family places usually beat the restaurants near "
                         f"the main sights.", "", "Ask your hotel where locals eat lunch."]))
    return q, a


def t_daytrip(rng, d):
    place, how, why = rng.choice(d["trips"])
    q = rng.choice([f"Any good day trips from {d['name']}?",
                    f"Is {place} worth a day trip from {d['name']}?",
                    f"How do I get to {place} from {d['name']}?"])
    other = [t for t in d["trips"] if t[0] != place][0]
    a = join(f"{place} is {how} from {d['name']} and well worth it for {why}.",
             rng.choice([f"If you have a second day, {other[0]} is another good option "
                         f"({other[2]}).", "Leave early to beat the tour groups.", ""]))
    return q, a


def t_packing(rng, d):
    season = rng.choice(["spring", "summer", "autumn", "winter"])
    q = rng.choice([f"What should I pack for {d['name']} in {season}?",
                    f"Packing list for a week in {d['name']} ({season})?"])
    items = {"spring": "light layers, a packable rain jacket and comfortable walking shoes",
             "summer": "breathable clothes, sunscreen, a hat and a refillable water bottle",
             "autumn": "a warm mid-layer, a waterproof jacket and shoes with good grip",
             "winter": "a proper insulated coat, thermal base layers, gloves and a warm hat"}
    a = join(f"{d['name']} is usually {d['climate']}, so in {season} pack {items[season]}.",
             rng.choice(["A universal plug adapter and a small daypack are always useful.",
                         "Bring one smarter outfit for a nice dinner.", ""]))
    return q, a


TRAVEL_INTENTS = [t_itinerary, t_season, t_airport, t_budget, t_food, t_daytrip, t_packing]
TRAVEL_FOLLOWUPS = [
    ("What if it rains?", "Museums, covered markets and a long lunch are your friends. Most "
     "cities also have a good food hall or bathhouse for a wet afternoon."),
    ("Is it walkable?", "The central areas are, and walking is the best way to find small "
     "places. Bring shoes you've already broken in; cobbles and hills add up."),
    ("Thanks! Do I need to book anything in advance?", "Book popular restaurants and any "
     "timed-entry sights a few weeks ahead, especially at weekends. Day tours can usually be "
     "booked a day or two before."),
    ("Great, that's really helpful 🙌", "Have a wonderful trip!"),
]


def _sg_text(conv) -> str:
    return "\n".join(t["value"] for t in conv)


def make_travel(rng: random.Random, multi: bool):
    d = rng.choice(DESTS)
    conv = []
    if rng.random() < 0.35:
        conv.append({"from": "system", "value": rng.choice(TRAVEL_SYSTEMS)})
    q, a = rng.choice(TRAVEL_INTENTS)(rng, d)
    conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    if multi:
        if rng.random() < 0.6:
            intent = rng.choice(TRAVEL_INTENTS)
            q2, a2 = intent(rng, d)
        else:
            q2, a2 = rng.choice(TRAVEL_FOLLOWUPS)
        conv += [{"from": "human", "value": q2}, {"from": "gpt", "value": a2}]
    return conv, _sg_text(conv)


KYOTO_JA = [
    {"from": "human", "value": "京都で紅葉を見るならどこがおすすめですか？"},
    {"from": "gpt", "value": "東福寺の通天橋、永観堂、嵐山の宝厳院が特に人気です。見頃は例年11月中旬から"
                             "下旬で、朝8時前に行くと比較的空いています。"},
    {"from": "human", "value": "ありがとうございます。夜のライトアップもありますか？"},
    {"from": "gpt", "value": "はい、永観堂や高台寺などで秋の夜間特別拝観が行われます。"
                             "日程と料金は毎年変わるので、各寺院の公式サイトで確認してください。"},
]

NARRATOR = [
    {"from": "system", "value": "You are a travel guide character in an interactive story."},
    {"from": "narrator", "value": "The traveller steps off the night train at Rossio station "
                                  "with a heavy rucksack and no hotel booked."},
    {"from": "human", "value": "Where can I leave my bag for the day?"},
    {"from": "gpt", "value": "There are luggage lockers at Rossio and Cais do Sodré stations, and "
                             "several shops nearby store bags by the hour."},
]

ENDS_HUMAN = [
    {"from": "human", "value": "Is Valparaíso a good day trip from Santiago?"},
    {"from": "gpt", "value": "Yes. The bus takes about 90 minutes, and a day is enough to ride a "
                             "couple of the old funiculars and wander the painted hills of "
                             "Cerro Alegre and Cerro Concepción."},
    {"from": "human", "value": "And could I fit in Viña del Mar the same day?"},
]


def build_travel(rng: random.Random):
    single = take(rng, 40, lambda r: make_travel(r, False), "travel single")
    multi = take(rng, 15, lambda r: make_travel(r, True), "travel multi")
    for conv, what in ((KYOTO_JA, "kyoto"), (NARRATOR, "narrator"), (ENDS_HUMAN, "ends human")):
        GUARD.require(_sg_text(conv), what)
    convs = single + multi + [KYOTO_JA]
    rng.shuffle(convs)
    convs.insert(23, NARRATOR)
    convs.insert(44, ENDS_HUMAN)
    records = [{"id": f"trip-{i:04d}", "conversations": c} for i, c in enumerate(convs, 1)]
    n_unique = len(records)
    dup_src = sorted(rng.sample([i for i in range(5, 40) if records[i]["conversations"] not in
                                 (NARRATOR, ENDS_HUMAN)], 2))
    for k, i in enumerate(dup_src):
        records.insert(len(records) - (5 if k == 0 else 0), copy.deepcopy(records[i]))
    defects = []
    first = {}
    for i, r in enumerate(records, 1):
        key = json.dumps(r, sort_keys=True, ensure_ascii=False)
        if key in first:
            defects.append((i, "duplicate_exact", first[key]))
        else:
            first[key] = i
        if any(t["from"] == "narrator" for t in r["conversations"]):
            defects.append((i, "unknown_role_narrator", None))
        if r["conversations"][-1]["from"] == "human":
            defects.append((i, "ends_with_human_turn", None))
    defects.sort()
    stats = {"unique": n_unique,
             "system": sum(1 for r in records[:n_unique] if r["conversations"][0]["from"] ==
                           "system"),
             "multi": sum(1 for r in records[:n_unique]
                          if sum(t["from"] == "human" for t in r["conversations"]) > 1),
             "japanese": [i for i, r in enumerate(records, 1) if r["conversations"] == KYOTO_JA],
             "emoji": [i for i, r in enumerate(records, 1)
                       if any("🙌" in t["value"] for t in r["conversations"])]}
    return records, defects, stats


# =========================================================================== 4. FAQ (CSV)

FAQ = [
    # geography
    ("What is the longest river in Africa?", "The Nile, at roughly 6,650 km, flowing north "
     "into the Mediterranean.", "geography"),
    ("Which country has the most time zones?", "France, with 12 time zones once its overseas "
     "territories are counted.", "geography"),
    ("What is the capital of Australia?", "Canberra. It was purpose-built as a compromise between "
     "Sydney and Melbourne.", "geography"),
    ("Where is the Atacama Desert?", "In northern Chile, between the Andes and the Pacific. Some "
     "weather stations there have never recorded rain.", "geography"),
    ("What is the highest mountain in Africa?", "Kilimanjaro in Tanzania, 5,895 m above sea "
     "level.", "geography"),
    ("Which is the largest ocean?", "The Pacific, covering about a third of Earth's surface.",
     "geography"),
    ("What is the smallest country in the world?", "Vatican City, about 0.44 km², entirely "
     "surrounded by Rome.", "geography"),
    ("How many continents are there?", "Seven is the most common count: Africa, Antarctica, "
     "Asia, Australia/Oceania, Europe, North America and South America. Some traditions merge "
     "the Americas or Europe and Asia.", "geography"),
    ("What is the deepest lake in the world?", "Lake Baikal in Siberia, over 1,600 m deep. It "
     "holds about a fifth of the world's unfrozen fresh surface water.", "geography"),
    ("Which countries does the Danube flow through?", "Ten: Germany, Austria, Slovakia, Hungary, "
     "Croatia, Serbia, Romania, Bulgaria, Moldova and Ukraine, before reaching the Black Sea.",
     "geography"),
    ("What is the capital of Iceland?", "Reykjavík, the northernmost capital of a sovereign "
     "state.", "geography"),
    ("Why is the Dead Sea called dead?", "Its water is almost ten times saltier than the ocean, "
     "so fish and plants can't live in it; only some microbes survive.", "geography"),
    ("What does the name 東京 (Tokyo) mean?", "It means \u2018eastern capital\u2019: the city "
     "was renamed from Edo in 1868 when the emperor moved there from Kyoto.", "geography"),
    ("Which desert is the largest?", "Antarctica, if you count cold deserts. The largest hot "
     "desert is the Sahara.", "geography"),
    ("What is an archipelago?", "A group or chain of islands, such as Indonesia, the "
     "Philippines or the Azores.", "geography"),
    ("Where is Timbuktu?", "In Mali, near the Niger River on the southern edge of the Sahara. It "
     "was a major centre of trade and scholarship in the 15th and 16th centuries.", "geography"),
    ("What is the capital of Canada?", "Ottawa, on the border between Ontario and Québec.",
     "geography"),
    ("What separates Europe from Africa at its narrowest?", "The Strait of Gibraltar, about "
     "14 km wide.", "geography"),
    ("Which country has the longest coastline?", "Canada, with more than 200,000 km of coast "
     "including its Arctic islands.", "geography"),
    ("What is the source of the Amazon?", "Its most distant source is in the Peruvian Andes; "
     "the exact spot is still debated among geographers.", "geography"),
    ("Is Greenland a continent?", "No. It is the world's largest island and an autonomous "
     "territory within the Kingdom of Denmark.", "geography"),
    ("What is São Paulo known for?", "It is Brazil's largest city and financial centre, with a "
     "huge Japanese-Brazilian community in the Liberdade district.", "geography"),
    ("What is the Ring of Fire?", "A horseshoe-shaped zone around the Pacific where most of the "
     "world's earthquakes and volcanic eruptions occur.", "geography"),
    ("Which river runs through Budapest?", "The Danube, separating hilly Buda on the west bank "
     "from flat Pest on the east.", "geography"),
    ("What is a fjord?", "A long, narrow, deep inlet carved by a glacier and later flooded by "
     "the sea, common in Norway, Chile and New Zealand.", "geography"),
    ("How high is Mount Everest?", "8,849 m, according to the 2020 survey by China and Nepal.",
     "geography"),
    # science
    ("Why is the sky blue?", "Air molecules scatter short (blue) wavelengths of sunlight much "
     "more than long (red) ones; this is called Rayleigh scattering.", "science"),
    ("What is the speed of light?", "About 299,792 km per second in a vacuum.", "science"),
    ("What is photosynthesis?", "The process by which plants, algae and some bacteria use light "
     "energy to turn carbon dioxide and water into sugar, releasing oxygen.", "science"),
    ("How many bones are in the adult human body?", "206. Babies are born with around 300, and "
     "many fuse as they grow.", "science"),
    ("What is an ångström?", "A unit of length equal to 10⁻¹⁰ m, handy for atomic sizes and "
     "chemical bond lengths.", "science"),
    ("At what temperature does water boil?", "100 °C at sea level; lower at altitude because air "
     "pressure is lower, about 90 °C at 3,000 m.", "science"),
    ("What is DNA?", "Deoxyribonucleic acid, the molecule that carries genetic instructions, made "
     "of two strands twisted into a double helix.", "science"),
    ("Why do we have seasons?", "Earth's axis is tilted about 23.4°, so each hemisphere receives "
     "more direct sunlight during part of the year. Distance from the Sun plays almost no "
     "role.", "science"),
    ("What is the difference between weather and climate?", "Weather is what happens over hours "
     "or days; climate is the average pattern over decades.", "science"),
    ("What is the most abundant gas in Earth's atmosphere?", "Nitrogen, about 78%. Oxygen is "
     "about 21%.", "science"),
    ("What causes the tides?", "Mostly the Moon's gravity pulling on the oceans, with a smaller "
     "contribution from the Sun. Spring tides happen when the two line up.", "science"),
    ("What is absolute zero?", "0 kelvin, or −273.15 °C: the lowest possible temperature, where "
     "a system has its minimum possible energy.", "science"),
    ("What is the largest planet in the solar system?", "Jupiter, more than 300 times Earth's "
     "mass.", "science"),
    ("How do vaccines work?", "They train the immune system to recognise a pathogen, using a "
     "harmless piece or version of it, so the body can respond quickly to a real infection.",
     "science"),
    ("What is an isotope?", "Atoms of the same element with different numbers of neutrons, like "
     "carbon-12 and carbon-14.", "science"),
    ("Why does ice float?", "Water expands when it freezes into a crystal lattice, so ice is about "
     "9% less dense than liquid water.", "science"),
    ("What is entropy?", "A measure of how many microscopic arrangements match a system's "
     "overall state; informally, its disorder. In an isolated system it never decreases.",
     "science"),
    ("How far away is the Moon?", "About 384,400 km on average; light takes roughly 1.3 seconds "
     "to cover it.", "science"),
    ("What is a light-year?", "The distance light travels in one year, about 9.46 trillion km. "
     "It measures distance, not time.", "science"),
    ("What is the pH of pure water?", "7 at 25 °C, which is neutral.", "science"),
    ("Why do leaves change colour in autumn?", "Trees stop making chlorophyll, revealing yellow "
     "and orange carotenoids; some also produce red anthocyanins.", "science"),
    ("What is the mitochondrion?", "An organelle that produces most of a cell's supply of ATP, "
     "the molecule cells use for energy.", "science"),
    ("What is a black hole?", "A region where gravity is so strong that nothing, not even light, "
     "can escape once past the event horizon.", "science"),
    ("Do humans only use 10% of their brain?", "No. Brain imaging shows activity throughout the "
     "brain, and no area is unused.", "science"),
    ("What is the chemical formula of table salt?", "NaCl, sodium chloride.", "science"),
    ("How does a rainbow form?", "Sunlight is refracted, reflected inside raindrops and refracted "
     "again; each colour bends by a slightly different angle.", "science"),
    # python
    ("How do I reverse a list in Python?", "Use slicing to get a reversed copy:\nitems[::-1]\n"
     "or call items.reverse() to reverse it in place.", "python"),
    ("What is the difference between a list and a tuple?", "Lists are mutable and tuples are "
     "not. Tuples can be dictionary keys if their items are hashable.", "python"),
    ('What does the "is" operator do, and how is it different from ==?', 'is checks whether two '
     'names refer to the same object; == checks whether the values are equal. Use "is" only for '
     'singletons such as None, e.g. if x is None.', "python"),
    ("How do I read a file line by line?", "Open it in a with block and iterate over the file "
     "object; each iteration yields one line, including its newline.", "python"),
    ("What is a list comprehension?", "A compact way to build a list from an iterable, e.g. "
     "[n * n for n in range(10) if n % 2 == 0] for the squares of even numbers.", "python"),
    ("How do I check the type of a variable?", "Use isinstance(x, int) for checks, which also "
     "accepts subclasses; type(x) returns the exact type.", "python"),
    ("What does if __name__ == '__main__': mean?", "The block runs only when the file is "
     "executed as a script, not when it's imported as a module.", "python"),
    ("How do I install a package?", "Run python -m pip install package-name, ideally inside a "
     "virtual environment created with python -m venv .venv.", "python"),
    ("What is a virtual environment?", "An isolated folder with its own interpreter and installed "
     "packages, so each project can pin its own dependency versions.", "python"),
    ("How do I merge two dictionaries?", "In Python 3.9 or later, merged = a | b. Keys from b "
     "win on conflicts.", "python"),
    ("What is the difference between append and extend?", "append adds its argument as a single "
     "element; extend adds each element of an iterable.", "python"),
    ("How do I handle an exception?", "Wrap the code in try and catch specific exceptions with "
     "except ValueError as err; use finally for cleanup that must always run.", "python"),
    ("What is a generator?", "A function that uses yield to produce values lazily, one at a time, "
     "which saves memory for large sequences.", "python"),
    ("How do I format a float to two decimal places?", "Use an f-string: f\u2018{value:.2f}\u2019 "
     "turns 3.14159 into 3.14.", "python"),
    ("Why does 0.1 + 0.2 not equal 0.3?", "Floats are stored in binary, which can't represent "
     "0.1 exactly. Compare with math.isclose, or use the decimal module for money.", "python"),
    ("What are *args and **kwargs?", "*args collects extra positional arguments into a tuple; "
     "**kwargs collects extra keyword arguments into a dict.", "python"),
    ("How do I sort a list of dictionaries by a key?", "sorted(rows, key=lambda r: r['age']) "
     "returns a new sorted list; add reverse=True for descending order.", "python"),
    ("What is the GIL?", "The global interpreter lock in CPython lets only one thread run Python "
     "bytecode at a time, so threads help with I/O-bound work but not CPU-bound work.",
     "python"),
    ("How do I get the current date?", "from datetime import date, then date.today(). For a "
     "timestamp with a timezone, use datetime.now(timezone.utc).", "python"),
    ("What does enumerate do?", "It yields (index, item) pairs, so you don't need a manual "
     "counter in a for loop.", "python"),
    ("How can I remove duplicates from a list while keeping order?", "list(dict.fromkeys(items)) "
     "keeps the first occurrence of each item.", "python"),
    ("What is a decorator?", "A function that takes a function and returns a new one, applied "
     "with the @name syntax above a def, often to add logging, caching or checks.", "python"),
    ("How do I write a string to a file with UTF-8 encoding?", "Use open(path, 'w', "
     "encoding='utf-8') and call write(); always pass encoding explicitly so the result doesn't "
     "depend on the platform.", "python"),
    ("What does pass do?", "Nothing: it is a placeholder where a statement is required "
     "syntactically, such as an empty class or function body.", "python"),
    ("How do I count how often each word appears?", "collections.Counter does it in one line: "
     "Counter(text.lower().split()).most_common(5) gives the five most frequent words.",
     "python"),
    ("What is the difference between a module and a package?", "A module is a single .py file; "
     "a package is a directory of modules, usually with an __init__.py, that you import by its "
     "folder name.", "python"),
]


def build_faq(rng: random.Random):
    rows = list(FAQ)
    for q, a, _ in rows:
        GUARD.require(f"{q}\n{a}", q)
    rng.shuffle(rows)
    n_unique = len(rows)
    srcs = sorted(rng.sample(range(5, 45), 2))
    dup_rows = [rows[i] for i in srcs]
    rows.insert(58, dup_rows[0])
    rows.append(dup_rows[1])
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(["question", "answer", "category"])
    w.writerows(rows)
    text = buf.getvalue()
    # Physical line of each data row (a quoted embedded newline shifts later rows).
    phys = []
    line = 2
    for r in rows:
        phys.append(line)
        line += sum(f.count("\n") for f in r) + 1
    defects = []
    first = {}
    for i, r in enumerate(rows, 1):
        if r in first:
            defects.append((i, phys[i - 1], "duplicate_exact", first[r]))
        else:
            first[r] = i
        if any("\n" in f for f in r):
            defects.append((i, phys[i - 1], "embedded_newline", None))
        if any('"' in f for f in r) and any("," in f for f in r if '"' in f):
            defects.append((i, phys[i - 1], "comma_and_quotes", None))
    defects.sort()
    stats = {"unique": n_unique, "by_category": {c: sum(1 for r in FAQ if r[2] == c)
                                                 for c in ("geography", "science", "python")},
             "physical_lines": text.count("\n")}
    return "\ufeff" + text, rows, defects, stats


# =========================================================================== 5. Dolly notes (gz)

DOLLY = [
    ("closed_qa", "When does the Harbor Street library reopen?",
     "The Harbor Street branch library closed in January for a roof replacement and a new "
     "children's wing. The city council's update in May said work was running three weeks late "
     "because of a steel delivery delay, and set the reopening for Saturday, 14 September. Until "
     "then, holds can be collected from the Elm Park branch.",
     "It is scheduled to reopen on Saturday, 14 September, about three weeks later than planned."),
    ("summarization", "Summarise these meeting notes in two sentences.",
     "Attendees: Priya, Tomás, Wen, Odile. Priya reported that the spring volunteer drive "
     "recruited 42 new people, mostly students. Tomás raised that the van used for food "
     "deliveries failed its inspection and needs new brakes, quoted at $1,150. Wen proposed "
     "using part of the reserve fund; the group agreed. Odile will draft a thank-you email to "
     "the new volunteers by Friday.",
     "The spring drive brought in 42 new volunteers, and Odile will thank them by email by "
     "Friday. The group agreed to pay the $1,150 brake repair on the delivery van from the "
     "reserve fund."),
    ("information_extraction", "List the names of the birds mentioned and how many of each were "
     "counted.",
     "Our Saturday count at Millpond Marsh was cold but productive. We logged 14 mallards, 6 "
     "grey herons, a single kingfisher that flashed past the hide twice, about 30 lapwings in "
     "the wet field, and 3 little egrets, which are still a novelty this far north.",
     "Mallard: 14\nGrey heron: 6\nKingfisher: 1\nLapwing: about 30\nLittle egret: 3"),
    ("closed_qa", "How much does the premium plan cost per year?",
     "Fernleaf's note-taking app has three plans. Basic is free and syncs two devices. Plus "
     "costs $4 a month or $40 a year and removes the device limit. Premium costs $8 a month or "
     "$80 a year and adds shared notebooks, version history and priority support.",
     "$80 a year (or $8 a month)."),
    ("classification", "Classify each item as a fruit or a vegetable in the culinary sense.",
     "", "Culinary classification: apple (fruit), carrot (vegetable), mango (fruit), broccoli "
     "(vegetable), strawberry (fruit), spinach (vegetable). Botanically, tomatoes and "
     "cucumbers are fruits, but cooks treat them as vegetables."),
    ("open_qa", "Why do cats purr?", "",
     "Cats purr when they're content, but also when stressed, injured or giving birth, so it "
     "seems to be a general self-soothing and communication signal. The sound comes from rapid "
     "twitching of the muscles in the larynx."),
    ("brainstorming", "Give me five ideas for a rainy-day activity with a six-year-old.", "",
     "1. Build a blanket fort and read stories inside with a torch.\n2. Bake and decorate "
     "simple biscuits.\n3. Set up an indoor treasure hunt with picture clues.\n4. Make a "
     "cardboard-box marble run.\n5. Put on a puppet show with socks."),
    ("creative_writing", "Write a four-line poem about the first frost.", "",
     "The lawn wears silver overnight,\nEach blade a small, unbending spear;\nThe kettle sings "
     "against the light,\nAnd breath hangs visible and clear."),
    ("general_qa", "What's the difference between a simile and a metaphor?", "",
     "A simile compares two things using \u2018like\u2019 or \u2018as\u2019 (\u2018brave as a "
     "lion\u2019); a metaphor states the comparison directly (\u2018he was a lion in battle\u2019)."),
    ("summarization", "Summarise the product update for a customer newsletter.",
     "Release 3.2 of the Tidepool budgeting app adds recurring transfers, lets users split a "
     "transaction across up to five categories, and fixes a bug that showed the wrong currency "
     "symbol for Swiss francs. Bank sync for two new Danish banks is in beta. The dark theme now "
     "follows the phone's system setting by default.",
     "Tidepool 3.2 brings recurring transfers, lets you split a transaction across up to five "
     "categories, fixes the Swiss franc symbol, and makes dark mode follow your phone's "
     "setting. Sync with two new Danish banks is available in beta."),
    ("closed_qa", "Who won the pie contest?",
     "This year's Oakridge county fair drew a record 61 entries in the pie contest. The judges "
     "praised a sour cherry lattice from Marguerite Okafor, but first prize went to Dev "
     "Raman's bourbon pecan pie. Okafor took second, and a gooseberry crumble pie from "
     "ten-year-old Lucía Ferrer won the junior category.",
     "Dev Raman won first prize with a bourbon pecan pie."),
    ("information_extraction", "Extract the dates and the event on each date as a list.",
     "Reminder for the choir: the extra rehearsal is on Tuesday 4 March at 7 pm. We sing at the "
     "St Ann's spring concert on Saturday 22 March, and the recording session is booked for "
     "Sunday 6 April at the community hall. Robes must be returned by 13 April.",
     "- 4 March: extra rehearsal (7 pm)\n- 22 March: St Ann's spring concert\n- 6 April: "
     "recording session at the community hall\n- 13 April: deadline to return robes"),
    ("open_qa", "How do noise-cancelling headphones work?", "",
     "Microphones pick up ambient sound, and a chip generates the same wave with the opposite "
     "phase. Played through the speakers, it cancels much of the steady low-frequency noise, "
     "like engine hum; sudden or high-pitched sounds are harder to cancel."),
    ("classification", "Is this review positive, negative or mixed?",
     "The tent went up in ten minutes and stayed dry through a night of heavy rain, which is "
     "all I wanted. The carry bag, though, is so tight that packing it in the morning was a "
     "wrestling match.",
     "Mixed: the reviewer praises the quick pitch and waterproofing but dislikes the tight "
     "carry bag."),
    ("brainstorming", "Suggest names for a small bakery that specialises in rye bread.", "",
     "Rye & Shine; The Dark Loaf; Crust & Caraway; Northern Crumb; Seeded; Sour Hour; "
     "Old Grain Bakehouse."),
    ("closed_qa", "How long is the warranty on the refurbished laptops?",
     "All refurbished laptops from Cobalt Renew are tested on a 40-point checklist and come "
     "with a new battery. They carry an 18-month warranty, compared with 24 months for new "
     "machines, and can be returned within 30 days for any reason.",
     "18 months."),
    ("summarization", "Give a one-sentence summary of this paragraph.",
     "Honeybees communicate the location of food through the waggle dance. A forager returning "
     "to the hive runs in a figure-of-eight, waggling her body during the straight part. The "
     "angle of that run relative to vertical shows the direction of the food relative to the "
     "sun, and the length of the waggle encodes the distance.",
     "Honeybees use a figure-of-eight \u2018waggle dance\u2019 whose angle shows the direction "
     "of food relative to the sun and whose waggle length shows its distance."),
    ("creative_writing", "Write the opening line of a mystery set in a lighthouse.", "",
     "The lamp had turned every night for ninety years, so when the beam failed to sweep across "
     "the bay at 2:14 am, every boat in Carrow Harbour woke to the dark."),
    ("general_qa", "What does \u2018RSVP\u2019 stand for?", "",
     "It's from French: \u2018répondez s\u2019il vous plaît\u2019, meaning \u2018please "
     "reply\u2019."),
    ("information_extraction", "What ingredients does the recipe need, and in what amounts?",
     "Grandma Ilse's plum cake: cream 125 g butter with 100 g sugar, beat in 2 eggs, then fold "
     "in 200 g flour and 2 tsp baking powder with a splash of milk. Spread in a tin, press "
     "halved plums (about 750 g) into the batter and bake at 180 °C for 45 minutes.",
     "125 g butter, 100 g sugar, 2 eggs, 200 g flour, 2 tsp baking powder, a splash of milk, "
     "and about 750 g plums."),
    ("closed_qa", "Which trail is recommended for beginners?",
     "The Whitmore Ridge reserve has three marked trails. The Blue Loop is 3 km, mostly flat and "
     "suitable for pushchairs. The Red Trail climbs 400 m over 7 km to the ridge and has a "
     "scrambling section. The Black Traverse is a 14 km route for experienced hikers only.",
     "The Blue Loop, a mostly flat 3 km trail that is even suitable for pushchairs."),
    ("open_qa", "Why is the ocean salty?", "",
     "Rain slowly dissolves minerals from rocks on land, and rivers carry them to the sea. "
     "Water leaves the ocean by evaporation but the salts stay behind, so over millions of years "
     "they've built up to about 3.5% salinity."),
    ("classification", "Which of these are programming languages: Rust, Oberon, Sapphire, "
     "Kotlin, Basalt, Haskell?", "",
     "Rust, Oberon, Kotlin and Haskell are programming languages. Sapphire and Basalt are "
     "minerals (a gemstone and a volcanic rock)."),
    ("summarization", "Summarise the complaint and what the customer wants.",
     "I ordered the blue kettle on the 3rd and received a red one on the 10th. I called on the "
     "11th and was promised a callback that never came. I don't want to pay return postage for "
     "your mistake. Please either send the blue one with a prepaid label for the red one, or "
     "refund me in full.",
     "The customer received the wrong colour kettle and never got a promised callback. They want "
     "either the correct blue kettle plus a prepaid return label, or a full refund."),
    ("brainstorming", "What are some low-cost ways to make a small flat feel bigger?", "",
     "Use mirrors opposite windows, choose furniture with visible legs, keep floors clear with "
     "wall shelves, pick one light wall colour throughout, hang curtains higher than the window "
     "frame, and declutter surfaces."),
    ("creative_writing", "Write a two-sentence horror story about a smart home.", "",
     "\u201cGood night,\u201d I told the house, and every light went off as usual. Then, from the "
     "speaker in the empty nursery, a voice I had never programmed whispered \u201cgood night\u201d "
     "back."),
    ("information_extraction", "Pull out the flight number, departure time and gate.",
     "Passenger notice: Nordlys Air flight NL 482 to Bergen, scheduled for 09:40, will now "
     "depart at 10:25 from gate B17 instead of B12. Boarding starts 30 minutes before "
     "departure. We apologise for the inconvenience.",
     "Flight: NL 482; departure: 10:25 (delayed from 09:40); gate: B17."),
    ("general_qa", "What is compound interest?", "",
     "Interest calculated on both the original amount and the interest already added. For "
     "example, $1,000 at 5% a year becomes $1,050 after one year and $1,102.50 after two, "
     "because the second year's interest is also earned on the first year's $50."),
    ("closed_qa", "What time does the ferry leave on Sundays?",
     "The Isle of Carrick ferry runs four times a day from Monday to Saturday, at 7:00, 10:30, "
     "14:00 and 17:30. On Sundays there are only two crossings, at 10:30 and 16:00, and no "
     "sailings on Christmas Day.",
     "On Sundays it leaves at 10:30 and 16:00."),
    ("open_qa", "How do plants know which way is up?", "",
     "Roots and shoots sense gravity through starch-filled grains in special cells that settle "
     "at the bottom; hormones called auxins then redistribute so the shoot bends upward and the "
     "root grows down."),
    ("classification", "Classify the tone of this email as formal or informal.",
     "Hey Sam! Quick one: can you send me those photos from Saturday? The ones by the lake. No "
     "rush, whenever you get a sec. Cheers!",
     "Informal."),
    ("summarization", "Summarise this history in one paragraph for a museum label.",
     "The Wickham textile mill opened in 1862, powered by a waterwheel on the River Lune. By "
     "1890 it employed 340 workers, many of them children. Steam replaced water power in 1903. "
     "The mill closed in 1971 as cheaper imports took over, stood empty for two decades, and "
     "reopened in 1994 as a museum and artists' studios.",
     "Opened in 1862 beside the River Lune, the Wickham mill grew to 340 workers, many of them "
     "children, switched from water to steam in 1903, and closed in 1971 under pressure from "
     "imports. After twenty years empty, it reopened in 1994 as a museum and studios."),
    ("brainstorming", "List some questions to ask when viewing a flat to rent.", "",
     "How much are the bills on average? Who handles repairs, and how fast? Is the deposit "
     "protected? Are pets allowed? What's the phone signal and broadband like? How long did the "
     "last tenant stay? Is there any damp or mould?"),
    ("general_qa", "How many minutes are in a week?", "",
     "10,080 minutes (7 days × 24 hours × 60 minutes)."),
    ("information_extraction", "Which languages does the guide speak, and on which days is she "
     "available?",
     "Hi! I'm Inés, a licensed guide in Seville. I give tours in Spanish, English and Italian, "
     "and I'm learning Japanese (日本語) but not yet guiding in it. I'm available Tuesday to "
     "Saturday; on Sundays and Mondays I only take private bookings made a week ahead.",
     "Spanish, English and Italian. She's available Tuesday to Saturday, and on Sundays and "
     "Mondays only for private bookings made a week ahead."),
    ("closed_qa", "What was the attendance at the final match?",
     "The Riverside Rovers' season ended with a 2–1 win over Eastfield in front of 8,412 fans, "
     "the club's biggest crowd since the stand was rebuilt. Striker Kofi Mensah scored both "
     "goals, finishing with 19 for the season.",
     "8,412 fans."),
    ("creative_writing", "Write a haiku about a night bus.", "",
     "Fogged window, one stop\u2014\nthe driver hums to no one,\nthe city sleeps on."),
    ("open_qa", "What makes a good password?", "",
     "Length matters most: a passphrase of four or more unrelated words is both strong and "
     "memorable. Use a different password for every site, ideally kept in a password manager, "
     "and turn on two-factor authentication where you can."),
    ("classification", "Label each sentence as fact or opinion.",
     "1. The Eiffel Tower is in Paris. 2. Paris is the most romantic city in the world. 3. The "
     "Seine flows through Paris. 4. Parisian cafés serve the best coffee.",
     "1. Fact\n2. Opinion\n3. Fact\n4. Opinion"),
    ("general_qa", "Is a tomato a fruit?", "",
     "Botanically, yes: it develops from the flower and contains seeds. In cooking and in some "
     "laws, such as a famous 1893 US Supreme Court ruling on import tariffs, it's treated as a "
     "vegetable."),
]


def build_dolly(rng: random.Random):
    recs = []
    for cat, ins, ctx, resp in DOLLY:
        GUARD.require("\n".join([ins, ctx, resp]), ins)
        recs.append({"instruction": ins, "context": ctx, "response": resp, "category": cat})
    rng.shuffle(recs)
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in recs)  # no final newline
    assert not text.endswith("\n")
    return text, recs


# =========================================================================== writing + README


def render_readme(s) -> str:
    sup, rec, tra, faq, dol = s["support"], s["recipes"], s["travel"], s["faq"], s["dolly"]

    def rows(defects, fmt):
        return "\n".join(fmt(d) for d in defects)

    sup_desc = {
        "empty_assistant_content": "the only assistant message has content `\"\"` (empty string)",
        "blank_line": "blank line (empty, just `\\n`)",
        "truncated_json": "not valid JSON: a record cut off mid-line",
        "unknown_role_usr": "valid JSON; the user message has role `\"usr\"` (unknown role)",
        "json_array_not_object": "valid JSON but an array of numbers, not an object",
        "weight_2": "valid JSON; the last assistant message has `\"weight\": 2` (allowed: 0 or 1)",
        "endoftext_token_in_content": "the last assistant message's content ends with "
                                      "`<|endoftext|>`",
        "duplicate_exact": "byte-identical copy of line {o}",
        "duplicate_whitespace": "copy of line {o} except one space doubled inside a user "
                                "message's content (equal after whitespace collapsing)",
    }

    def sup_row(d):
        line, kind, orig = d
        return f"| {line} | {sup_desc[kind].format(o=orig)} |"

    def arr_row(d):
        i, kind, orig = d
        desc = {"duplicate_exact": f"exact copy of record {orig}",
                "empty_output": "`output` is the empty string",
                "unknown_role_narrator": "a turn with `\"from\": \"narrator\"` (unknown role)",
                "ends_with_human_turn": "conversation ends with a `human` turn (no answer)"}[kind]
        return f"| {i} | {desc} |"

    def faq_row(d):
        i, line, kind, orig = d
        desc = {"duplicate_exact": f"exact copy of data row {orig}",
                "embedded_newline": "`answer` is a quoted field containing 2 LF newlines",
                "comma_and_quotes": "`question` and `answer` are quoted fields containing commas "
                                    "and doubled `\"\"` quotes"}[kind]
        return f"| {i} | {line} | {desc} |"

    return f"""# Sample raw data

Generated by `scripts/make_sample_data.py` (seed {SEED}, stdlib only, deterministic: running it
again rewrites identical bytes; `--check` verifies). Do not edit these files by hand; change the
script and rerun it. All text is original; "Lumen Outfitters", its products, stores and orders
are fictional, and the places, organisations and people in `dolly_notes.jsonl.gz` are made up
except for well-known landmarks.

`make run` feeds this folder to the pipeline with the `openai-chat` profile. Each file is one raw
shape and carries a few planted defects, listed below with exact positions, so tests can assert
exactly what ingest, convert, validate and dedupe report.

Conventions: line numbers are 1-based physical lines; for JSON-array files the position is the
1-based index of the element in the array; for the CSV, "row" is the 1-based data row (the header
is not counted) and "line" the 1-based physical line (the header is line 1, and the BOM sits at
the start of line 1).

Apart from the planted duplicates, no two records in this folder are exact or near copies of one
another: the script rejects any record whose character-5-gram Jaccard similarity (lower-cased,
NFKC, whitespace collapsed, all content fields) with an earlier record in any file is
>= {NEAR_DUP_THRESHOLD}; the highest similarity among the accepted records is
{s["max_sim"]:.3f}.

| file | shape | physical lines / records | valid-shape records | planted defects |
|---|---|---|---|---|
| `support_chat.jsonl` | OpenAI chat `messages` JSONL, LF | {sup["n_lines"]} lines | {sup["n_objects"]} JSON objects | {len(sup["defects"])} |
| `recipes_alpaca.json` | Alpaca JSON array, indent 2 | {rec["n"]} records | {rec["n"]} | {len(rec["defects"])} |
| `travel_sharegpt.json` | ShareGPT JSON array, indent 2 | {tra["n"]} records | {tra["n"]} | {len(tra["defects"])} |
| `faq.csv` | `question,answer,category` CSV, UTF-8 BOM, CRLF | {faq["n"]} data rows (+ header) | {faq["n"]} | {len(faq["defects"])} |
| `dolly_notes.jsonl.gz` | Dolly JSONL, gzip | {dol["n"]} lines | {dol["n"]} | 0 (no final newline) |

Total: {sup["n_objects"] + rec["n"] + tra["n"] + faq["n"] + dol["n"]} records that parse as JSON
objects or CSV rows, of which {sup["n_objects"] + rec["n"] + tra["n"] + faq["n"] + dol["n"] -
s["n_dups"]} are distinct after whitespace normalisation (the {s["n_dups"]} planted duplicates
are the only repeats).

## `support_chat.jsonl`

Customer-support chats for Lumen Outfitters (returns, exchanges, shipping, care, sizing, warranty,
discount codes, stores, repairs, product comparisons, gift cards). {sup["n_lines"]} physical
lines, LF line endings, UTF-8 without BOM, final newline present.

- {sup["n_objects"]} lines parse as JSON objects with a `messages` list; 2 lines do not parse as
  an object (1 truncated, 1 array) and 1 line is blank.
- Clean records: {sup["n_clean"]} ({sup["stats"]["single"]} single-turn, {sup["stats"]["multi"]}
  multi-turn with 2 or 3 user turns, {sup["stats"]["tools"]} tool-call examples, 1 in Chinese);
  {sup["stats"]["system"]} of them start with a system message; {sup["stats"]["weight0"]}
  multi-turn records put `"weight": 0` on their first assistant message.
- Tool-call examples (lines {", ".join(str(x) for x in sup["tool_lines"])}): a top-level
  `tools` list with one function, `lookup_order`; an assistant message with `content: null` and
  one `tool_calls` entry (`id` `call_...`, `arguments` a JSON string such as
  `{{"order_id": "A1234"}}`); a `tool` message with the matching `tool_call_id`; a final
  assistant answer.
- Unicode: accented names (Zoë, José, Amélie, Søren, Björn, Kraków), en dashes, `°C`, `−`,
  an emoji (😊) on line(s) {", ".join(str(x) for x in sup["emoji_lines"]) or "none"}, and
  Chinese on line {sup["cjk_line"]}.

Planted defects ({len(sup["defects"])}):

| line | defect |
|---|---|
{rows(sup["defects"], sup_row)}

## `recipes_alpaca.json`

Cooking Q&A in Alpaca shape: a pretty-printed (indent 2) JSON array of {rec["n"]} objects with
`instruction`, `input`, `output` (and `history` on some). LF, final newline.

- {rec["stats"]["unique"]} distinct records: {rec["stats"]["general"]} general cooking questions,
  {rec["stats"]["dish"]} dish-based (recipe, substitution, storage, scaling),
  {rec["stats"]["convert"]} cup-to-metric conversions, {rec["stats"]["history"] - 0} with
  `history` (`[[question, answer], ...]`, one with two prior turns, one in Japanese), and 1 with
  an empty output.
- `input` is non-empty on {rec["stats"]["with_input"]} records (scaling and conversion tasks) and
  `""` on the rest.
- Unicode: crème brûlée, jalapeño, Gruyère, 麻婆豆腐, お好み焼き, ¼ ½ ¾ fractions, °C, a
  Spanish question.

Planted defects ({len(rec["defects"])}), by 1-based array index:

| record | defect |
|---|---|
{rows(rec["defects"], arr_row)}

## `travel_sharegpt.json`

Travel planning in ShareGPT shape: a JSON array (indent 2) of {tra["n"]} objects
`{{"id": "trip-NNNN", "conversations": [{{"from": "system"|"human"|"gpt", "value": ...}}]}}`.
LF, final newline.

- {tra["stats"]["unique"]} distinct records; {tra["stats"]["system"]} start with a `system` turn
  and {tra["stats"]["multi"]} have 2 human turns (counting records 24 and 45 below).
  Record {tra["stats"]["japanese"][0]} is in Japanese; the emoji 🙌 appears in record(s)
  {", ".join(map(str, tra["stats"]["emoji"]))}.
- The duplicates are whole-record copies, `id` included (so `id` values repeat too).

Planted defects ({len(tra["defects"])}), by 1-based array index:

| record | defect |
|---|---|
{rows(tra["defects"], arr_row)}

## `faq.csv`

A small general-knowledge FAQ: header `question,answer,category`, {faq["n"]} data rows
({", ".join(f"{k} {v}" for k, v in faq["stats"]["by_category"].items())} distinct rows per
category, before the duplicates), {faq["stats"]["physical_lines"]} physical lines. UTF-8 with a
BOM (`EF BB BF`) at the start, CRLF line endings, RFC 4180 quoting (fields with commas, quotes or
newlines are quoted; embedded quotes doubled). The embedded newlines inside the one multi-line
field are LF, not CRLF.

Planted defects ({len(faq["defects"])}):

| row | line | defect |
|---|---|---|
{rows(faq["defects"], faq_row)}

Also: the BOM at the start of line 1; every record ends with CRLF (only the 2 newlines inside
the quoted field on row {[d for d in faq["defects"] if d[2] == "embedded_newline"][0][0]} are
bare LF).

## `dolly_notes.jsonl.gz`

Dolly-style notes: gzip (written with mtime 0 and no file name, so the bytes are stable) of
{dol["n"]} JSON lines `{{"instruction", "context", "response", "category"}}`. `context` is `""`
on {dol["empty_context"]} lines. Categories: {", ".join(f"{k} {v}" for k, v in
sorted(dol["by_category"].items()))}. The uncompressed text has LF line endings and **no final
newline** (the last line ends at EOF). No other defects.
"""


def generate() -> dict[str, bytes]:
    rng = random.Random(SEED)
    files: dict[str, bytes] = {}
    summary = {}

    sup_lines, sup_defects, sup_stats = build_support(random.Random(rng.randrange(2**32)))
    files["support_chat.jsonl"] = ("\n".join(sup_lines) + "\n").encode("utf-8")
    n_obj = 0
    tool_lines, emoji_lines, cjk_line = [], [], None
    for i, ln in enumerate(sup_lines, 1):
        try:
            o = json.loads(ln)
        except json.JSONDecodeError:
            continue
        if isinstance(o, dict):
            n_obj += 1
            if "tools" in o and not any(d[0] == i for d in sup_defects):
                tool_lines.append(i)
            if "😊" in ln and not any(d[0] == i for d in sup_defects):
                emoji_lines.append(i)
            if "你好" in ln:
                cjk_line = i
    summary["support"] = {"n_lines": len(sup_lines), "n_objects": n_obj,
                          "n_clean": n_obj - sum(1 for d in sup_defects
                                                 if d[1] not in ("blank_line", "truncated_json",
                                                                 "json_array_not_object")),
                          "defects": sup_defects, "stats": sup_stats, "tool_lines": tool_lines,
                          "emoji_lines": emoji_lines, "cjk_line": cjk_line}

    recs, rec_defects, rec_stats = build_recipes(random.Random(rng.randrange(2**32)))
    files["recipes_alpaca.json"] = (json.dumps(recs, ensure_ascii=False, indent=2) + "\n").encode()
    summary["recipes"] = {"n": len(recs), "defects": rec_defects, "stats": rec_stats}

    trav, tra_defects, tra_stats = build_travel(random.Random(rng.randrange(2**32)))
    files["travel_sharegpt.json"] = (json.dumps(trav, ensure_ascii=False, indent=2) + "\n").encode()
    summary["travel"] = {"n": len(trav), "defects": tra_defects, "stats": tra_stats}

    faq_text, faq_rows, faq_defects, faq_stats = build_faq(random.Random(rng.randrange(2**32)))
    files["faq.csv"] = faq_text.encode("utf-8")
    summary["faq"] = {"n": len(faq_rows), "defects": faq_defects, "stats": faq_stats}

    dolly_text, dolly = build_dolly(random.Random(rng.randrange(2**32)))
    files["dolly_notes.jsonl.gz"] = gzip.compress(dolly_text.encode("utf-8"), compresslevel=9,
                                                  mtime=0)
    by_cat = {}
    for r in dolly:
        by_cat[r["category"]] = by_cat.get(r["category"], 0) + 1
    summary["dolly"] = {"n": len(dolly), "empty_context": sum(1 for r in dolly
                                                              if not r["context"]),
                        "by_category": by_cat}

    summary["n_dups"] = sum(1 for part in ("support", "recipes", "travel", "faq")
                            for d in summary[part]["defects"]
                            if "duplicate" in (d[1] if part != "faq" else d[2]))
    summary["max_sim"] = GUARD.max_seen
    files["README.md"] = render_readme(summary).encode("utf-8")
    return files, summary


def print_summary(s) -> None:
    sup = s["support"]
    print(f"support_chat.jsonl: {sup['n_lines']} lines, {sup['n_objects']} JSON objects, "
          f"{sup['n_clean']} clean; tool-call lines {sup['tool_lines']}")
    for d in sup["defects"]:
        print(f"  line {d[0]}: {d[1]}" + (f" (of line {d[2]})" if d[2] else ""))
    for name in ("recipes", "travel"):
        part = s[name]
        print(f"{name}: {part['n']} records; {part['stats']}")
        for d in part["defects"]:
            print(f"  record {d[0]}: {d[1]}" + (f" (of record {d[2]})" if d[2] else ""))
    faq = s["faq"]
    print(f"faq.csv: {faq['n']} data rows; {faq['stats']}")
    for d in faq["defects"]:
        print(f"  row {d[0]} (line {d[1]}): {d[2]}" + (f" (of row {d[3]})" if d[3] else ""))
    print(f"dolly_notes.jsonl.gz: {s['dolly']['n']} lines; empty context "
          f"{s['dolly']['empty_context']}; {s['dolly']['by_category']}")
    print(f"max near-dup similarity among accepted records: {s['max_sim']:.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="verify files on disk, write nothing")
    args = ap.parse_args()
    files, summary = generate()
    if args.check:
        bad = [n for n, b in files.items()
               if not (args.out / n).exists() or (args.out / n).read_bytes() != b]
        for n in bad:
            print(f"differs: {args.out / n}", file=sys.stderr)
        return 1 if bad else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.out / name).write_bytes(data)
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
