// The built-in training text for write_trained_tokenizer: hand-written English passages plus
// generated arithmetic word problems with worked answers (in the "<<a+b=c>>" / "#### c" style of
// grade-school math data), so the small test tokenizers compress prompts like the ones the tests send.
#include <array>
#include <string>

#include "tokenizer/bpe_trainer.h"

namespace cpm {

namespace {

const char* const kPassages = R"(The quick brown fox jumps over the lazy dog.
Once upon a time, a little girl lived in a small house at the edge of a quiet forest.
Every morning she walked to the river to fill two buckets with fresh water.
One day she found a lost puppy under an old oak tree, and she took it home.
The puppy was hungry, so she gave it some bread and a bowl of warm milk.
From that day on, the puppy followed her everywhere she went.
The sun rises in the east and sets in the west.
Water boils at 100 degrees Celsius at sea level and freezes at 0 degrees.
A week has 7 days, a day has 24 hours, and an hour has 60 minutes.
There are 12 months in a year, and most years have 365 days.
The Earth goes around the Sun once a year, and the Moon goes around the Earth about once a month.
Plants need light, water and air to grow. Their leaves turn sunlight into food.
Cats sleep for many hours each day, while dogs like to run and play outside.
Bees visit flowers to collect nectar, which they turn into honey.
Please read the question carefully before you answer it.
Write your answer as a whole number, and show your work step by step.
First, find out how many items there are in total. Then divide them into equal groups.
Remember to check your result: add the parts together and compare them with the total.
Hello! How are you today? I am fine, thank you. What would you like to talk about?
Can you help me with my homework? Of course. Which subject is it?
It is math. I have to solve ten problems about fractions and percentages.
Let us start with the first one. What does it say?
The train leaves the station at 9:15 and arrives in the city at 11:45.
The shop opens at 8 in the morning and closes at 6 in the evening.
She bought a notebook for $3.50, a pen for $1.25 and a ruler for $0.75.
He saved $20 every week for 15 weeks, and then he bought a new bicycle.
The farmer planted 8 rows of corn with 25 plants in each row.
Our school library has more than 4,000 books, magazines and maps.
The recipe needs 2 cups of flour, 3 eggs, half a cup of sugar and a pinch of salt.
Mix everything in a large bowl, pour it into a pan, and bake it for 30 minutes.
If it rains tomorrow, we will stay inside and play board games.
My brother is taller than me, but I am older than him.
They went to the market, bought some apples and oranges, and walked back home.
The children were happy because the teacher told them a funny story.
Why is the sky blue? Sunlight is scattered by the air, and blue light is scattered the most.
How many legs does a spider have? A spider has eight legs, and an insect has six.
The answer is correct. Well done!
That is not quite right. Try again, and think about what the question asks.
A café on the corner sells coffee, tea, juice and fresh cakes.
The naïve plan failed, so they made a better one together.
Numbers such as 1, 2, 3, 10, 25, 100 and 1000 appear in many problems.
Half of 50 is 25, a quarter of 100 is 25, and 10 percent of 200 is 20.
The total cost is the price of one item times the number of items.
The average of 4, 8 and 12 is 8, because 4 + 8 + 12 = 24 and 24 / 3 = 8.
)";

struct Problem {
  const char* name;
  const char* pronoun;
  const char* item;
};

constexpr std::array<Problem, 12> kPeople = {{{"Tom", "He", "apples"},
                                              {"Anna", "She", "books"},
                                              {"Maria", "She", "pencils"},
                                              {"James", "He", "cookies"},
                                              {"Lily", "She", "marbles"},
                                              {"Omar", "He", "stickers"},
                                              {"Chen", "He", "eggs"},
                                              {"Sofia", "She", "shells"},
                                              {"Ravi", "He", "cards"},
                                              {"Emma", "She", "flowers"},
                                              {"Noah", "He", "toy cars"},
                                              {"Grace", "She", "candies"}}};

// One problem of each of four kinds, with numbers varied deterministically by `n`.
std::string word_problems(int n) {
  const Problem& p = kPeople[n % kPeople.size()];
  const std::string name = p.name, he = p.pronoun, item = p.item;
  const int a = 3 + (n * 7) % 41, b = 2 + (n * 11) % 23, c = 2 + n % 6, price = 2 + (n * 5) % 9;
  auto s = [](int value) { return std::to_string(value); };
  std::string text;
  text += "Question: " + name + " has " + s(a) + " " + item + ". " + he + " gets " + s(b) + " more " + item +
          " from a friend. How many " + item + " does " + name + " have now?\n";
  text += "Answer: " + name + " has " + s(a) + " + " + s(b) + " = <<" + s(a) + "+" + s(b) + "=" + s(a + b) +
          ">>" + s(a + b) + " " + item + ".\n#### " + s(a + b) + "\n";
  text += "Question: " + name + " had " + s(a + b) + " " + item + " and gave " + s(b) +
          " of them away. How many " + item + " are left?\n";
  text += "Answer: " + s(a + b) + " - " + s(b) + " = <<" + s(a + b) + "-" + s(b) + "=" + s(a) + ">>" + s(a) +
          " " + item + " are left.\n#### " + s(a) + "\n";
  text += "Question: Each box holds " + s(c) + " " + item + ". " + name + " fills " + s(b) + " boxes. " +
          "How many " + item + " is that in total?\n";
  text += "Answer: " + s(b) + " boxes x " + s(c) + " = <<" + s(b) + "*" + s(c) + "=" + s(b * c) + ">>" +
          s(b * c) + " " + item + " in total.\n#### " + s(b * c) + "\n";
  text += "Question: " + name + " buys " + s(c) + " " + item + " for $" + s(price) +
          " each and pays with a $" + s(c * price + 10) + " bill. How much change does " + name + " get?\n";
  text += "Answer: The " + item + " cost " + s(c) + " * " + s(price) + " = $<<" + s(c) + "*" + s(price) +
          "=" + s(c * price) + ">>" + s(c * price) + ". The change is " + s(c * price + 10) + " - " +
          s(c * price) + " = $<<" + s(c * price + 10) + "-" + s(c * price) + "=10>>10.\n#### 10\n";
  return text;
}

}  // namespace

const std::string& default_tokenizer_corpus() {
  static const std::string corpus = [] {
    std::string text = kPassages;
    for (int n = 0; n < 60; ++n) text += word_problems(n);
    return text;
  }();
  return corpus;
}

}  // namespace cpm
