"""Arithmetic word problems with GSM8K-style worked answers (calculator annotations, final "#### N").

One- and two-step problems over +, - and * with small numbers: sums and differences stay between 0 and
the style's max_value, products use factors 2..5 (up to 25), so a few-million-parameter model trained
on 2 CPU cores can learn them (digits are single tokens). In the final style the answers work the
numbers without repeating the question's names and objects: a model this small learnt arithmetic but
not to copy names (trained on named answers, it wrote wrong names into otherwise right answers).
"""
import random
from collections import namedtuple

# max_value bounds sums and differences; named_answers repeats the question's names and objects in the
# worked lines ("Tom has 3 + 4 = <<3+4=7>>7 apples.") instead of plain ones ("Now there are ...").
# template_weights (optional) maps template method names to relative weights for drawing problems; None draws
# every template equally (the held-out test set's draw, which must not change).
# quoted (plain answers only) starts a two-step answer's second line with the question's words that lead to
# its third number ("And then gives away 7, leaving 17 - 7 = ..."), so the number is copied right after the same
# words in the question instead of being looked up by position.
Style = namedtuple("Style", ["max_value", "named_answers", "template_weights", "quoted"], defaults=(None, False))
# The shipped model was trained in stages (see README.md): first on harder problems whose answers
# name people and objects (that stage's text also trained the tokenizer), then on the final style,
# whose questions the held-out test set uses.
FIRST_STAGE = Style(max_value=30, named_answers=True)
FINAL = Style(max_value=20, named_answers=False)
# The templates by kind, for the styles that draw some kinds more often than others.
ONE_STEP_PRODUCTS = ("mul_groups", "mul_days", "mul_price", "times_as_many")
ONE_STEP_SUMS_AND_DIFFERENCES = ("add_more", "add_together", "add_more_than", "sub_give", "sub_fewer",
                                 "sub_difference")
TWO_STEP_THIRD_NUMBER = ("add_then_sub", "sub_then_add", "mul_then_sub", "mul_then_add", "three_days",
                         "price_change")  # the second step takes the question's third number
TWO_STEP_FIRST_NUMBER = ("more_then_total", "fewer_then_total")  # the second step reuses the first number


def kind_weights(products, sums_and_differences, third_number, first_number):
    """template_weights giving every template of a kind the same weight."""
    kinds = ((ONE_STEP_PRODUCTS, products), (ONE_STEP_SUMS_AND_DIFFERENCES, sums_and_differences),
             (TWO_STEP_THIRD_NUMBER, third_number), (TWO_STEP_FIRST_NUMBER, first_number))
    return {name: weight for names, weight in kinds for name in names}


# Stage 3 of the earlier recipe (README.md): the final style's problems drawn toward the kinds stage 2 got
# wrong most. One-step products (92% right after stage 2) weigh 0.5, one-step sums and differences 1,
# two-step problems 1.5, so about 10% of problems are one-step products, 30% one-step sums/differences and
# 60% two-step.
FINAL_WEAK = FINAL._replace(template_weights=kind_weights(0.5, 1.0, 1.5, 1.5))
# The shipped model's training (README.md): quoted answers, drawn toward the two-step problems whose second step
# takes the question's third number (those the earlier recipe got wrong most, using a number not in the question).
FINAL_QUOTED = FINAL._replace(quoted=True)
FINAL_QUOTED_WEAK = FINAL_QUOTED._replace(template_weights=kind_weights(0.5, 0.5, 2.0, 1.0))
NAMES = [
    ("Tom", "he", "his"), ("Anna", "she", "her"), ("Ben", "he", "his"), ("Lucy", "she", "her"),
    ("Sam", "he", "his"), ("Emma", "she", "her"), ("Jack", "he", "his"), ("Mia", "she", "her"),
    ("Leo", "he", "his"), ("Sara", "she", "her"), ("Max", "he", "his"), ("Lily", "she", "her"),
    ("Noah", "he", "his"), ("Zoe", "she", "her"), ("Omar", "he", "his"), ("Nina", "she", "her"),
    ("Ivan", "he", "his"), ("Rosa", "she", "her"), ("Paul", "he", "his"), ("Kate", "she", "her"),
    ("Mark", "he", "his"), ("Ella", "she", "her"), ("Adam", "he", "his"), ("Grace", "she", "her"),
    ("Luis", "he", "his"), ("Maya", "she", "her"), ("Eric", "he", "his"), ("Julia", "she", "her"),
    ("John", "he", "his"), ("Amy", "she", "her"), ("Ryan", "he", "his"), ("Olivia", "she", "her"),
    ("Hugo", "he", "his"), ("Chloe", "she", "her"), ("David", "he", "his"), ("Hannah", "she", "her"),
    ("Carlos", "he", "his"), ("Aisha", "she", "her"), ("Peter", "he", "his"), ("Wendy", "she", "her"),
]
# Countable things someone can have, buy, pick or give away.
THINGS = [
    "apples", "marbles", "stickers", "pencils", "cookies", "books", "cards", "shells", "stamps", "balloons",
    "flowers", "eggs", "candies", "crayons", "buttons", "beads", "coins", "oranges", "cupcakes", "toy cars",
    "rocks", "feathers", "muffins", "pens", "erasers", "lemons", "carrots", "blocks", "ribbons", "seeds",
]
# (container, containers)
CONTAINERS = [("box", "boxes"), ("bag", "bags"), ("pack", "packs"), ("basket", "baskets"), ("jar", "jars"),
              ("crate", "crates"), ("tray", "trays"), ("bowl", "bowls")]
# (activity, unit): "Tom reads 7 pages every day."
DAILY = [("reads", "pages"), ("walks", "miles"), ("saves", "dollars"), ("bakes", "cookies"),
         ("writes", "pages"), ("swims", "laps"), ("picks", "apples"), ("folds", "paper cranes")]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
GET_VERBS = ["buys", "finds", "gets", "is given", "wins", "collects"]
GIVE_PHRASES = ["gives {c} to {friend}", "loses {c}", "eats {c}", "gives away {c}", "sells {c}"]


def calc(a, op, b):
    """'a op b = <<a op b = r>>r' in GSM8K's annotation style; returns (text, r)."""
    r = a + b if op == "+" else a - b if op == "-" else a * b
    return f"{a} {op} {b} = <<{a}{op}{b}={r}>>{r}", r


class Problem:
    def __init__(self, question, lines, result):
        self.question = question
        self.answer = "\n".join(lines) + f"\n#### {result}"
        self.result = result


class Generator:
    """Draws random problems; every random choice goes through self.rng so a seed fixes everything."""

    def __init__(self, seed, style=FINAL):
        self.rng = random.Random(seed)
        self.max_value = style.max_value
        self.named_answers = style.named_answers
        self.template_weights = style.template_weights
        self.quoted = style.quoted
        self.templates = [
            self.add_more, self.add_together, self.sub_give, self.sub_fewer, self.add_more_than,
            self.sub_difference, self.mul_groups, self.mul_days, self.mul_price,
            self.add_then_sub, self.sub_then_add, self.mul_then_sub, self.mul_then_add, self.more_then_total,
            self.three_days, self.price_change, self.times_as_many, self.fewer_then_total,
        ]

    # ---- random pieces ----
    def people(self):
        first, second = self.rng.sample(NAMES, 2)
        return first, second

    def num(self, low, high):
        return self.rng.randint(low, high)

    def lines(self, plain, named, quoted=None):
        if self.named_answers:
            return named
        return quoted if self.quoted and quoted is not None else plain

    def sum_pair(self, low=1):
        """a, b with a + b <= max_value."""
        total = self.max_value
        a = self.num(low, total - low)
        return a, self.num(low, total - a)

    def sub_pair(self, low=1):
        """a, b with 0 <= a - b <= a <= max_value."""
        a = self.num(low + 1, self.max_value)
        return a, self.num(low, a)

    def factors(self):
        return self.num(2, 5), self.num(2, 5)

    def thing(self):
        return self.rng.choice(THINGS)

    def pick(self, options):
        return self.rng.choice(options)

    # ---- one-step ----
    def add_more(self):
        (n, p, _), _ = self.people()
        a, b = self.sum_pair()
        t = self.thing()
        verb = self.pick(GET_VERBS)
        q = self.pick([f"{n} has {a} {t}. {p.capitalize()} {verb} {b} more {t}. How many {t} does {n} have now?",
                       f"{n} has {a} {t} and {verb} {b} more. How many {t} does {n} have now?"])
        text, r = calc(a, "+", b)
        return Problem(q, self.lines([f"Now there are {text}."], [f"{n} has {text} {t} now."]), r)

    def add_together(self):
        (n, _, _), (m, _, _) = self.people()
        a, b = self.sum_pair()
        t = self.thing()
        q = self.pick([f"{n} has {a} {t} and {m} has {b} {t}. How many {t} do they have altogether?",
                       f"{n} collected {a} {t}. {m} collected {b} {t}. How many {t} did they collect in total?"])
        text, r = calc(a, "+", b)
        return Problem(q, self.lines([f"Together there are {text}."], [f"Together they have {text} {t}."]), r)

    def sub_give(self):
        (n, p, _), (m, _, _) = self.people()
        a, b = self.sub_pair()
        t = self.thing()
        q = self.pick([f"{n} had {a} {t}. {p.capitalize()} gave {b} of them to {m}. How many {t} does {n} have left?",
                       f"{n} had {a} {t} and ate {b} of them. How many {t} are left?",
                       f"There were {a} {t} in a bowl. {n} took {b} of them. How many {t} are still in the bowl?"])
        text, r = calc(a, "-", b)
        return Problem(q, self.lines([f"There are {text} left."], [f"There are {text} {t} left."]), r)

    def sub_fewer(self):
        (n, _, _), (m, _, _) = self.people()
        a, b = self.sub_pair()
        t = self.thing()
        q = f"{n} has {a} {t}. {m} has {b} fewer {t} than {n}. How many {t} does {m} have?"
        text, r = calc(a, "-", b)
        return Problem(q, self.lines([f"The second person has {text}."], [f"{m} has {text} {t}."]), r)

    def add_more_than(self):
        (n, _, _), (m, _, _) = self.people()
        a, b = self.sum_pair()
        t = self.thing()
        q = f"{n} has {a} {t}. {m} has {b} more {t} than {n}. How many {t} does {m} have?"
        text, r = calc(a, "+", b)
        return Problem(q, self.lines([f"The second person has {text}."], [f"{m} has {text} {t}."]), r)

    def sub_difference(self):
        (n, _, _), (m, _, _) = self.people()
        a, b = self.sub_pair()
        t = self.thing()
        q = f"{n} has {a} {t} and {m} has {b} {t}. How many more {t} does {n} have than {m}?"
        text, r = calc(a, "-", b)
        return Problem(q, self.lines([f"The difference is {text}."], [f"{n} has {text} more {t} than {m}."]), r)

    def mul_groups(self):
        (n, p, _), _ = self.people()
        a, b = self.factors()
        t = self.thing()
        one, many = self.pick(CONTAINERS)
        q = self.pick([f"{n} has {a} {many}. Each {one} has {b} {t}. How many {t} does {n} have in total?",
                       f"{n} buys {a} {many} of {t}. There are {b} {t} in each {one}. How many {t} did {p} buy?"])
        text, r = calc(a, "*", b)
        return Problem(q, self.lines([f"In total there are {text}."], [f"{n} has {text} {t} in total."]), r)

    def mul_days(self):
        (n, _, _), _ = self.people()
        a, b = self.factors()
        verb, unit = self.pick(DAILY)
        q = f"{n} {verb} {b} {unit} every day. How many {unit} does {n} {verb[:-1]} in {a} days?"
        text, r = calc(a, "*", b)
        return Problem(q, self.lines([f"Over the days that is {text}."], [f"In {a} days {n} {verb} {text} {unit}."]), r)

    def mul_price(self):
        (n, p, _), _ = self.people()
        a, b = self.factors()
        t = self.thing()
        q = f"{n} buys {a} {t}. Each one costs ${b}. How much money does {p} spend?"
        r = a * b
        return Problem(q, self.lines([f"The cost is {a} * {b} = $<<{a}*{b}={r}>>{r}."], [f"{n} spends {a} * {b} = $<<{a}*{b}={r}>>{r}."]), r)

    # ---- two-step ----
    def add_then_sub(self):
        (n, p, _), (m, _, _) = self.people()
        a, b = self.sum_pair()
        c = self.num(1, a + b)
        t = self.thing()
        give = self.pick(GIVE_PHRASES).format(c=c, friend=m)
        q = f"{n} has {a} {t}. {p.capitalize()} {self.pick(GET_VERBS)} {b} more and then {give}. How many {t} does {n} have now?"
        first, x = calc(a, "+", b)
        second, r = calc(x, "-", c)
        return Problem(q, self.lines([f"First there are {first}.", f"Then there are {second}."], [f"First {n} has {first} {t}.", f"Then {p} has {second} {t}."],
                                     [f"First there are {first}.", f"And then {give}, leaving {second}."]), r)

    def sub_then_add(self):
        (n, p, _), (m, _, _) = self.people()
        a, b = self.sub_pair()
        x = a - b
        c = self.num(1, self.max_value - x)
        t = self.thing()
        q = f"{n} had {a} {t}. {p.capitalize()} gave {b} to {m} and then bought {c} more. How many {t} does {n} have now?"
        first, _ = calc(a, "-", b)
        second, r = calc(x, "+", c)
        return Problem(q, self.lines([f"After giving some away there are {first}.", f"After buying more there are {second}."], [f"After giving some away, {n} has {first} {t}.", f"After buying more, {p} has {second} {t}."],
                                     [f"After giving some away there are {first}.", f"And then bought {c} more, making {second}."]), r)

    def mul_then_sub(self):
        (n, p, _), _ = self.people()
        a, b = self.factors()
        c = self.num(1, a * b)
        t = self.thing()
        one, many = self.pick(CONTAINERS)
        q = f"{n} buys {a} {many} of {t} with {b} {t} in each {one}. {p.capitalize()} gives away {c} {t}. How many {t} does {n} have left?"
        first, x = calc(a, "*", b)
        second, r = calc(x, "-", c)
        return Problem(q, self.lines([f"At first there are {first}.", f"After giving some away there are {second} left."], [f"{n} buys {first} {t}.", f"{p.capitalize()} has {second} {t} left."],
                                     [f"At first there are {first}.", f"After giving away {c} there are {second} left."]), r)

    def mul_then_add(self):
        (n, p, _), _ = self.people()
        a, b = self.factors()
        while a * b >= self.max_value:  # leave room for at least one loose thing
            a, b = self.factors()
        c = self.num(1, self.max_value - a * b)
        t = self.thing()
        one, many = self.pick(CONTAINERS)
        q = f"{n} has {a} {many} with {b} {t} in each {one}. {p.capitalize()} also has {c} loose {t}. How many {t} does {n} have in all?"
        first, x = calc(a, "*", b)
        second, r = calc(x, "+", c)
        return Problem(q, self.lines([f"The full ones hold {first}.", f"In all there are {second}."], [f"The {many} hold {first} {t}.", f"In all {n} has {second} {t}."],
                                     [f"The full ones hold {first}.", f"{p.capitalize()} also has {c} loose, so in all there are {second}."]), r)

    def more_then_total(self):
        (n, _, _), (m, _, _) = self.people()
        a = self.num(1, self.max_value // 2 - 1)
        b = self.num(1, self.max_value - 2 * a)
        t = self.thing()
        q = f"{n} has {a} {t}. {m} has {b} more {t} than {n}. How many {t} do they have together?"
        first, x = calc(a, "+", b)
        second, r = calc(a, "+", x)
        return Problem(q, self.lines([f"The second person has {first}.", f"Together they have {second}."], [f"{m} has {first} {t}.", f"Together they have {second} {t}."]), r)

    def fewer_then_total(self):
        (n, _, _), (m, _, _) = self.people()
        a = self.num(2, self.max_value // 2)
        b = self.num(1, a)
        t = self.thing()
        q = f"{n} has {a} {t}. {m} has {b} fewer {t} than {n}. How many {t} do they have in total?"
        first, x = calc(a, "-", b)
        second, r = calc(a, "+", x)
        return Problem(q, self.lines([f"The second person has {first}.", f"In total they have {second}."], [f"{m} has {first} {t}.", f"In total they have {second} {t}."]), r)

    def three_days(self):
        (n, _, _), _ = self.people()
        a, b = self.sum_pair()
        c = self.num(0, self.max_value - a - b)
        t = self.thing()
        d1, d2, d3 = sorted(self.rng.sample(range(7), 3))
        q = f"{n} collected {a} {t} on {DAYS[d1]}, {b} on {DAYS[d2]} and {c} on {DAYS[d3]}. How many {t} did {n} collect in total?"
        first, x = calc(a, "+", b)
        second, r = calc(x, "+", c)
        return Problem(q, self.lines([f"The first two days give {first}.", f"In total that is {second}."], [f"On the first two days {n} collected {first} {t}.", f"In total {n} collected {second} {t}."],
                                     [f"The first two days give {first}.", f"That and {c} on {DAYS[d3]} make {second} in total."]), r)

    def price_change(self):
        (n, p, _), _ = self.people()
        a, b = self.factors()
        while a * b > 20:  # bills of $10 and $20 keep every number within 20
            a, b = self.factors()
        c = self.pick([x for x in (10, 20) if x >= a * b])
        t = self.thing()
        q = f"{n} buys {a} {t} that cost ${b} each. {p.capitalize()} pays with a ${c} bill. How much change does {p} get?"
        x = a * b
        second, r = calc(c, "-", x)
        return Problem(q, self.lines([f"The cost is {a} * {b} = $<<{a}*{b}={x}>>{x}.", f"The change is {second} dollars."], [f"The {t} cost {a} * {b} = $<<{a}*{b}={x}>>{x}.", f"The change is {second} dollars."],
                                     [f"The cost is {a} * {b} = $<<{a}*{b}={x}>>{x}.", f"Paying with a ${c} bill, the change is {second} dollars."]), r)

    def times_as_many(self):
        (n, _, _), (m, _, _) = self.people()
        k, a = self.factors()
        word = {2: "twice", 3: "three times"}.get(k, f"{k} times")
        t = self.thing()
        q = f"{n} has {a} {t}. {m} has {word} as many {t} as {n}. How many {t} does {m} have?"
        text, r = calc(k, "*", a)
        return Problem(q, self.lines([f"The second person has {text}."], [f"{m} has {text} {t}."]), r)

    def problem(self):
        if self.template_weights is None:
            return self.pick(self.templates)()
        weights = [self.template_weights[t.__name__] for t in self.templates]
        return self.rng.choices(self.templates, weights=weights)[0]()


def few_shot_block(question, answer):
    """One example in the GSM8K protocol's few-shot layout."""
    return "Question: " + question + "\nAnswer: " + answer + "\n\n"


def chat_turns(question, answer):
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"
