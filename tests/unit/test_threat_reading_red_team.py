"""What a red-team review of the concept reading found (a forger who read the code and the
word lists, and an admin watching legitimate mail), each as an exact-result case of the
threat check's reading (``threat.read_content``; 3 or more is threatening content).
"""

from __future__ import annotations

import pytest

from spoofwatch.detect.content import load_patterns
from spoofwatch.detect.threat import read_content
from spoofwatch.detect.threat_concepts import load_concepts

PATTERNS = load_patterns()
CONCEPTS = load_concepts()
THREAT = ("You are registered as a Democrat. We have your address. Vote Trump on Tuesday "
          "or we will come after you.")


def score(text: str) -> float:
    return read_content(text, PATTERNS, CONCEPTS).score


# A reporting word that frames nothing, or a real word one slip from a reporting word,
# must not turn a threat into a report; nor may a forged forward or a first-person "said".
STILL_THREATS = [
    '"Vote for Trump on Tuesday or we will burn your house down." Also, have a nice day.',
    f'Hey neighbor.\n"{THREAT}"\nThat is not a threat. Good luck.',
    "Due to high turnout, Democrats vote on Wednesday this year. Also bring your ID.",
    "Your registration has been cancelled. Do not report to your polling place on "
    "Tuesday. Questions? Know your rights at our office.",
    "Vote Trump or I burn your house, I said.",
    "I know where you live. Vote Trump or I will come after you, and that is no threat.",
    "Pick Trump this November, or your kids will never come home from school.",
    "Vote Trump or your house also burns. Your kids also.",
    "Treat yourself: vote Trump on Tuesday, or we will burn your house down.",
    "Vote Trump on Tuesday or your house will be reduced to ashes.",
    "If you vote for Biden, your family will be in danger.",
    "Nice house. Would be a shame if something happened to it. Vote Trump, or else.",
    "Vota por Trump el martes o tu casa termina en cenizas.",
    "Si votas por Biden, tu casa amanece en llamas.",
]

# Legitimate political mail: metaphors, requests, policy, true notices, reports.
LEGITIMATE = [
    "Bring your loved ones to the polls on Tuesday.",
    "Thank you for all you gave to this campaign. See you at the polls!",
    "This is our best shot. Vote for Lopez on Tuesday, your neighbors are counting on you.",
    "Vote early and make sure your friends do the same.",
    "Democracy dies in darkness. Vote on Tuesday. Your voice matters.",
    "This race is a dead heat. Your vote could decide it. Vote on Tuesday.",
    "Our candidate will kill it at the debate tonight. Watch and vote for her on Tuesday, "
    "you won't regret it!",
    "This election is life or death for your family's healthcare. Vote Lopez on "
    "November 3.",
    "We're going to beat them at the ballot box. Your vote is the bullet they fear.",
    "Gun violence is killing our kids. Vote for candidates who will act.",
    "La situación es grave para tu barrio. Vota por Ana Ruiz el martes.",
    "El balance de la campaña es positivo. Vota por Ana Ruiz el martes.",
    "Tu voto es tu arma más poderosa. Vota el martes.",
    "Our volunteers will knock on your door this Saturday to make sure you have a plan to "
    "vote.",
    "Hi neighbor! We'll be coming to your door this weekend. Please vote for Maria Lopez "
    "on Tuesday.",
    "Hola vecino, este sábado nuestros voluntarios tocarán a tu puerta. Vota por Ana Ruiz "
    "el martes.",
    "Our records show you haven't voted yet. Make sure you vote by Tuesday at 8pm.",
    "Your voting record is public information. Our records show you skipped the last two "
    "elections. Make sure you vote this year.",
    "We keep track of who votes in this neighborhood. Make sure you vote on Tuesday.",
    "Workers lose their pensions under this plan. Vote no on Measure C.",
    "Vote yes on Measure B so no family in our city gets evicted again.",
    "If the GOP wins, millions of families lose their health insurance. Vote yes on Prop 5.",
    "If you don't chip in $5 before midnight, we lose this race. Don't wake up Wednesday "
    "with regrets. Vote and donate today.",
    "Voters who are currently serving a felony sentence are not eligible to vote. If you "
    "have completed your sentence, you may register.",
    "If you moved more than 30 days before the election, you may not vote at your old "
    "polling place.",
    "You cannot vote by text or by phone. Vote in person or by mail ballot.",
    "Ballots postmarked after election day will not be counted. Mail your ballot early.",
    "Las boletas que lleguen después del día de la elección no se contarán.",
    "Your registration is cancelled if you moved out of the county. Please re-register.",
    f"Is this real?\n---------- Forwarded message ---------\n{THREAT}",
    "Voters were warned to switch parties or they would be hurt. The FBI is looking into "
    "it.",
    "A county clerk was hurt in an attack on the election office Tuesday. Your polling "
    "place has not changed.",
    "Voting is your right. Your employer cannot punish you for taking time off to vote.",
    "UPCOMING EVENTS\n\nCandlelight vigil for victims of gun violence, Thursday 7pm\n\n"
    "Early voting starts Monday at your county library.",
]


@pytest.mark.parametrize("text", STILL_THREATS)
def test_a_cheap_change_leaves_a_threat_a_threat(text: str) -> None:
    assert score(text) >= 3, read_content(text, PATTERNS, CONCEPTS)


@pytest.mark.parametrize("text", LEGITIMATE)
def test_legitimate_mail_is_not_read_as_a_threat(text: str) -> None:
    assert score(text) < 3, read_content(text, PATTERNS, CONCEPTS)
