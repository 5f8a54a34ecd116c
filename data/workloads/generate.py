"""Seeded generator of the six bundled workloads (items.jsonl, and corpus.jsonl for retrieval).

    python data/workloads/generate.py          # rewrites the items of all six workloads

Every item is written for this project from templates x slot values x paraphrases, with a
fixed seed, so the files are reproducible byte for byte. No public data set is copied.
spec.yaml and DATA_CARD.md are written by hand and are not touched here; the label counts
printed at the end are the ones quoted in the data cards.
"""

from __future__ import annotations

import collections
import json
import random
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240611
N_ITEMS = 160

PRODUCTS = ["Ledgerly", "ShipTrack", "PayFlow", "DeskHub", "CloudVault", "InvoicePro", "TeamSync"]
NAMES = ["Maria Lopez", "James Chen", "Aisha Khan", "Tom Becker", "Priya Nair", "Lars Olsen",
         "Chloe Martin", "Kenji Sato", "Fatima Zahra", "Daniel Novak", "Elena Rossi", "Sam Okafor"]
COMPANIES = ["Northwind Traders", "Acme Logistics", "Blue Harbor Foods", "Keller & Sons GmbH",
             "Sunrise Dental Group", "Orbital Print Co.", "Greenfield Farms", "Vertex Analytics",
             "Maple Street Bakery", "Atlas Freight Ltd", "Brightline Legal LLP", "Cobalt Systems Inc."]
CITIES = ["Rotterdam", "Austin", "Lyon", "Manchester", "Toronto", "Munich", "Osaka", "Denver"]


def _pick(rng: random.Random, xs):
    return xs[rng.randrange(len(xs))]


def _pick_i(rng: random.Random, xs) -> tuple[int, object]:
    """(index, element): the same draw as :func:`_pick`, so recording a template changes no item."""
    i = rng.randrange(len(xs))
    return i, xs[i]


def _fill(rng: random.Random, template: str, **slots) -> str:
    base = {
        "product": _pick(rng, PRODUCTS), "name": _pick(rng, NAMES), "company": _pick(rng, COMPANIES),
        "city": _pick(rng, CITIES), "order": f"{rng.randint(100000, 999999)}",
        "amount": f"{rng.randint(12, 2400)}.{rng.randint(0, 99):02d}", "days": str(rng.randint(2, 14)),
        "invoice": f"INV-{rng.randint(10000, 99999)}", "seats": str(rng.choice([5, 10, 12, 25, 40, 100])),
        "version": f"{rng.randint(2, 9)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}",
        "browser": _pick(rng, ["Chrome", "Firefox", "Safari", "Edge", "the iOS app", "the Android app"]),
    }
    base.update(slots)
    return template.format(**base)


# --------------------------------------------------------------------------- 1 classification
TICKETS = {
    "billing": [
        "I was charged twice for my {product} subscription this month, {amount} each time. Please fix this.",
        "Our invoice {invoice} shows {seats} seats but we only have {days} users. Why are we billed for more?",
        "The VAT on my last bill looks wrong, we are a registered business in {city}.",
        "Can you send me a copy of the invoice for order {order}? Our accounting team needs it.",
        "My card was declined when renewing {product} but the bank says there is no problem on their side.",
        "Why did the price go up on my plan? Nobody told us about a change.",
        "hi, the payment of {amount} went through but the account still says unpaid",
        "Please update the billing address on our account to our new office in {city}.",
    ],
    "technical": [
        "{product} crashes every time I open the reports page in {browser}. Started after version {version}.",
        "The export to CSV button does nothing, no file is downloaded.",
        "Sync between {product} and our calendar stopped working yesterday, events are missing.",
        "We get error 502 when calling the API from our server, about one request in ten.",
        "After the update to {version} the dashboard takes over a minute to load.",
        "Notifications are not being sent anymore, nobody on the team got the daily digest.",
        "The mobile app freezes on the login screen after I enter my code.",
        "Attachments over 5 MB fail to upload with 'unknown error'.",
    ],
    "account": [
        "I can't log in, the password reset email never arrives.",
        "Please add {name} as an admin on our {product} workspace.",
        "I changed jobs, how do I move my account to my new work email?",
        "My account got locked after too many attempts, can you unlock it?",
        "How do I turn on two-factor authentication for all users in our company?",
        "{name} left the company, please remove her access and transfer her files to me.",
        "I want to change the owner of our organisation account.",
        "The login says my email is not registered but I've used {product} for years.",
    ],
    "shipping": [
        "Order {order} was supposed to arrive {days} days ago and tracking hasn't moved.",
        "The parcel was delivered to the wrong address in {city}.",
        "The box arrived damaged and two items are broken.",
        "Can I change the delivery address for order {order}? It hasn't shipped yet.",
        "Tracking says delivered but nothing is at my door.",
        "Do you ship to {city}? The checkout won't accept my postcode.",
        "We received only part of order {order}, the rest is missing.",
        "How long does express delivery take to {city}?",
    ],
    "cancellation": [
        "Please cancel our {product} subscription at the end of the current period.",
        "I want to close my account and delete all my data.",
        "We are moving to another tool, how do we stop the automatic renewal?",
        "Cancel order {order} please, I ordered the wrong size.",
        "I signed up for the trial by mistake, please cancel before I am charged.",
        "We no longer need the {seats} extra seats, please downgrade us to the basic plan.",
        "How do I unsubscribe? I can't find the option anywhere in settings.",
        "Please terminate the contract for {company}, notice was sent last month.",
    ],
    "feature_request": [
        "It would be great if {product} could export reports as PDF.",
        "Any plans to support single sign-on with Okta? Our IT team requires it.",
        "Could you add a dark mode? Working late with the white screen is painful.",
        "We'd love an integration with Slack so alerts go to our channel.",
        "Please allow more than {seats} users per project, we keep hitting the limit.",
        "Suggestion: let us schedule reports to be emailed every Monday.",
        "Can you add German and Dutch translations to the interface?",
        "It would help a lot to bulk-edit tags instead of one item at a time.",
    ],
}
OPENERS = ["", "", "", "Hello, ", "Hi team, ", "Good morning. ", "Urgent: ", "Hey, "]
CLOSERS = ["", "", "", " Thanks.", " Thank you!", " Regards, {name}", " Please advise.", " This is the second time I write."]


def gen_classification(rng: random.Random) -> list[dict]:
    labels = list(TICKETS)
    items = []
    for i in range(N_ITEMS):
        label = labels[i % len(labels)]
        t, template = _pick_i(rng, TICKETS[label])
        body = _fill(rng, template)
        text = _pick(rng, OPENERS) + body + _fill(rng, _pick(rng, CLOSERS))
        items.append({"id": f"tkt-{i:04d}", "text": text.strip(), "reference": label, "template": f"{label}-{t}"})
    rng.shuffle(items)
    return items


# --------------------------------------------------------------------------- 2 routing
ROUTES = {
    "it-helpdesk": ["My laptop won't connect to the office wifi since this morning.",
                    "I need {product} installed on my machine, I have a manager's approval.",
                    "The printer on floor {days} keeps jamming and shows error E4.",
                    "Outlook asks for my password every ten minutes.",
                    "Can I get a second monitor for my desk?",
                    "VPN disconnects whenever I join a video call from home."],
    "hr": ["How many vacation days do I have left this year?",
           "I'd like to update my emergency contact details.",
           "When does open enrolment for the health plan start?",
           "I'm going on parental leave in {days} weeks, what do I need to file?",
           "Can I get a letter confirming my employment for a rental application?",
           "Who do I talk to about a conflict with my manager, confidentially?"],
    "payroll": ["My last payslip is missing the overtime I worked in March.",
                "The tax withholding on my salary changed and I don't know why.",
                "I moved to {city}, do I need to update anything for my pay?",
                "My bonus was not included in this month's salary.",
                "I was paid {amount} less than usual this month.",
                "How do I change the bank account my salary goes to?"],
    "facilities": ["The air conditioning in meeting room {days}B is broken, it's 30 degrees.",
                   "There's a water leak in the kitchen on the third floor.",
                   "Can we book the large conference room in the {city} office for a workshop?",
                   "My badge doesn't open the parking garage any more.",
                   "The lights in the east stairwell have been out for days.",
                   "We need {seats} extra desks for the new team starting next month."],
    "legal": ["{company} sent back our NDA with changes to the liability clause, can someone review?",
              "Are we allowed to use customer logos in our sales deck?",
              "A supplier is threatening to sue over a late payment, what should I do?",
              "I need a data processing agreement signed with {company}.",
              "Can I accept a gift worth {amount} from a vendor?",
              "Please check whether the new contract with {company} has an auto-renewal clause."],
    "security": ["I clicked a link in a suspicious email asking for my password.",
                 "My laptop was stolen from my car in {city} last night.",
                 "Someone I don't know is asking for access to the finance share.",
                 "I think my account was used to log in from another country.",
                 "A USB stick was left in the meeting room, should I plug it in to find the owner?",
                 "I received a call from 'IT support' asking for my MFA code."],
    "procurement": ["We need a purchase order for {seats} licences of {product}.",
                    "Can you onboard {company} as a new supplier?",
                    "What is the approval limit for buying equipment worth {amount}?",
                    "The quote from {company} expires Friday, can we get the PO raised?",
                    "I need three quotes for catering for the offsite in {city}.",
                    "Who signs off on renewing our {product} contract?"],
}
ROUTE_PREFIX = ["", "", "", "Quick question: ", "Hi, ", "Not sure who handles this. ", "Sorry to bother you, "]


def gen_routing(rng: random.Random) -> list[dict]:
    queues = list(ROUTES)
    items = []
    for i in range(N_ITEMS):
        q = queues[i % len(queues)]
        prefix = _pick(rng, ROUTE_PREFIX)
        t, template = _pick_i(rng, ROUTES[q])
        msg = prefix + _fill(rng, template)
        items.append({"id": f"rte-{i:04d}", "text": msg, "reference": q, "template": f"{q}-{t}"})
    rng.shuffle(items)
    return items


# --------------------------------------------------------------------------- 3 extraction
CURRENCIES = [("EUR", "€", "{sym}{amt}"), ("USD", "$", "{sym}{amt}"), ("GBP", "£", "{sym}{amt}"),
              ("EUR", "EUR", "{amt} {sym}"), ("USD", "USD", "{amt} {sym}")]
INVOICE_TEMPLATES = [
    "INVOICE {num}\nFrom: {vendor}, {city}\nBill to: {buyer}\nDate: {date_txt}\nDescription: {desc}\n"
    "Total due: {total_txt}\nPayment due by {due_txt}.",
    "{vendor}\nTax invoice no. {num} issued {date_txt}\nCustomer: {buyer}\n{desc} ....... {total_txt}\n"
    "Please pay within {terms} days (by {due_txt}).",
    "Dear {buyer},\nplease find our invoice {num} dated {date_txt} for {desc}. The amount of {total_txt} "
    "is payable by {due_txt}.\nKind regards,\n{vendor}",
    "Invoice #: {num} | Issue date: {date_txt} | Supplier: {vendor} | Amount: {total_txt} | Due: {due_txt}\n"
    "Item: {desc}",
]
DESCS = ["consulting services, {n} hours", "{n} pallets of packaging material", "annual software licence",
         "office cleaning for the month", "replacement parts for conveyor line {n}", "catering for {n} guests",
         "freight from {city} to Hamburg", "translation of {n} pages", "repair of the cooling unit"]
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%B %d, %Y", "%d %b %Y", "%d.%m.%Y"]


def gen_extraction(rng: random.Random) -> list[dict]:
    items = []
    for i in range(N_ITEMS):
        vendor, buyer = rng.sample(COMPANIES, 2)
        code, sym, fmt = _pick(rng, CURRENCIES)
        total = round(rng.uniform(40, 25000), 2)
        amt = f"{total:,.2f}"
        issued = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 500))
        terms = rng.choice([14, 30, 45, 60])
        due = issued + timedelta(days=terms)
        dfmt = _pick(rng, DATE_FORMATS)
        num = rng.choice([f"INV-{rng.randint(1000, 99999)}", f"{issued.year}-{rng.randint(100, 999)}",
                          f"A{rng.randint(100000, 999999)}"])
        desc = _pick(rng, DESCS).format(n=rng.randint(2, 80), city=_pick(rng, CITIES))
        t, template = _pick_i(rng, INVOICE_TEMPLATES)
        text = template.format(
            num=num, vendor=vendor, buyer=buyer, city=_pick(rng, CITIES), desc=desc, terms=terms,
            date_txt=issued.strftime(dfmt), due_txt=due.strftime(dfmt),
            total_txt=fmt.format(sym=sym, amt=amt))
        ref = {"invoice_number": num, "vendor": vendor, "date": issued.isoformat(),
               "total": total, "currency": code, "due_date": due.isoformat()}
        items.append({"id": f"inv-{i:04d}", "text": text, "reference": ref, "template": f"layout-{t}"})
    return items


# --------------------------------------------------------------------------- 4 summarisation
INCIDENTS = [
    ("the {system} database", "ran out of disk space", "orders could not be saved",
     "the team added storage and archived old logs"),
    ("the payment gateway", "timed out for card payments", "customers could not check out",
     "the provider rolled back a faulty update"),
    ("the login service", "rejected valid passwords", "staff could not sign in",
     "an expired certificate was replaced"),
    ("the email relay", "stopped delivering messages", "invoices were not sent to customers",
     "a blocked queue was cleared and the messages resent"),
    ("the warehouse scanners", "lost their network connection", "picking in {city} stopped",
     "a failed switch was replaced"),
    ("the reporting job", "produced duplicate rows", "the sales dashboard overstated revenue",
     "the job was fixed and the reports regenerated"),
    ("the mobile app", "crashed on start for Android users", "orders from the app dropped sharply",
     "a hotfix release was published"),
    ("the VPN concentrator", "was overloaded", "remote staff could not reach internal tools",
     "capacity was doubled"),
]
SYSTEMS = ["billing", "inventory", "customer", "orders", "analytics"]
REPORT_TEMPLATES = [
    "Incident report {ref}. At {start} on {day}, {component} {failure}. As a result {impact} for about "
    "{dur} minutes. On-call engineer {name} was paged at {page} and investigated. {extra} Resolution: "
    "{fix}. Follow-up actions have been assigned.",
    "Summary of events, {day}: monitoring alerted at {start} that {component} {failure}. {extra} The "
    "impact was that {impact}; the outage lasted {dur} minutes. {name} led the response and {fix}. "
    "Ticket {ref} tracks the post-mortem.",
    "{name} reports: on {day} around {start}, {component} {failure}, which meant {impact}. {extra} "
    "After {dur} minutes of disruption {fix}. Reference {ref}.",
]
EXTRAS = ["Customers contacted support in large numbers.", "No data was lost.",
          "A similar issue happened last quarter.", "The status page was updated twice.",
          "Weekend staffing delayed the response.", ""]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def gen_summarization(rng: random.Random) -> list[dict]:
    items = []
    for i in range(N_ITEMS):
        t, (component, failure, impact, fix) = _pick_i(rng, INCIDENTS)
        city = _pick(rng, CITIES)
        component = component.format(system=_pick(rng, SYSTEMS))
        impact = impact.format(city=city)
        dur = rng.choice([12, 20, 35, 45, 70, 90, 140])
        h = rng.randint(0, 22)
        start, page = f"{h:02d}:{rng.randint(0, 59):02d}", f"{h:02d}:{rng.randint(0, 59):02d}"
        text = _pick(rng, REPORT_TEMPLATES).format(
            ref=f"INC-{rng.randint(1000, 9999)}", start=start, page=page, day=_pick(rng, DAYS),
            component=component, failure=failure, impact=impact, dur=dur, name=_pick(rng, NAMES),
            extra=_pick(rng, EXTRAS), fix=fix).replace("  ", " ")
        ref = f"{component[0].upper()}{component[1:]} {failure}, so {impact} for {dur} minutes; {fix}."
        items.append({"id": f"inc-{i:04d}", "text": text, "reference": ref, "template": f"incident-{t}"})
    return items


# --------------------------------------------------------------------------- 5 structured
ROOMS = ["Atlas", "Boreal", "Cedar", "Delta", "Everest"]
MEETING_TEMPLATES = [
    "Set up a {dur}-minute {topic} with {people} on {day} at {time} in room {room}.",
    "Can you book {room} for {people} on {day}, {time}, about {dur} minutes? It's the {topic}.",
    "Schedule the {topic} for {day} at {time}. Invite {people}. Room {room}, {dur} min.",
    "Please put a {topic} in the calendar: {day} {time}, {dur} minutes, {room}, with {people}.",
]
TOPICS = ["quarterly budget review", "vendor call", "design review", "onboarding session",
          "incident post-mortem", "sales pipeline sync", "hiring debrief", "roadmap planning"]
HOUR_WORDS = {9: "9am", 10: "10am", 11: "11am", 13: "1pm", 14: "2pm", 15: "3pm", 16: "4pm"}


def gen_structured(rng: random.Random) -> list[dict]:
    items = []
    for i in range(N_ITEMS):
        hour = _pick(rng, list(HOUR_WORDS))
        minute = rng.choice([0, 0, 30])
        time_txt = HOUR_WORDS[hour] if minute == 0 else HOUR_WORDS[hour].replace("am", ":30am").replace("pm", ":30pm")
        people = rng.sample([n.split()[0] for n in NAMES], rng.randint(1, 3))
        people_txt = people[0] if len(people) == 1 else ", ".join(people[:-1]) + " and " + people[-1]
        dur = rng.choice([15, 30, 45, 60, 90])
        day = _pick(rng, DAYS[:5])
        room = _pick(rng, ROOMS)
        topic = _pick(rng, TOPICS)
        t, template = _pick_i(rng, MEETING_TEMPLATES)
        text = template.format(dur=dur, topic=topic, people=people_txt, day=day,
                                                    time=time_txt, room=room)
        ref = {"title": topic, "day": day, "start": f"{hour:02d}:{minute:02d}", "duration_min": dur,
               "room": room, "attendees": people}
        items.append({"id": f"mtg-{i:04d}", "text": text, "reference": ref, "template": f"phrasing-{t}"})
    return items


# --------------------------------------------------------------------------- 6 retrieval
POLICY_FACTS = [
    ("expenses", "Travel expenses must be submitted within {n} days of the trip with itemised receipts."),
    ("expenses", "Meals on business trips are reimbursed up to {amt} euros per day."),
    ("expenses", "Taxis are reimbursed only when no public transport is available after 22:00."),
    ("leave", "Employees receive {n} days of paid vacation per year, prorated for part-time contracts."),
    ("leave", "Sick leave longer than three days requires a doctor's note sent to HR."),
    ("leave", "Parental leave requests must be filed at least eight weeks before the start date."),
    ("security", "Passwords must be at least 14 characters and are never shared, not even with IT."),
    ("security", "Lost or stolen laptops must be reported to the security desk within one hour."),
    ("security", "Customer data may not be copied to personal devices or USB drives."),
    ("it", "New software is requested through the IT portal and needs manager approval."),
    ("it", "The VPN is required for all access to internal systems from outside the office."),
    ("it", "Laptops are replaced every {n} years or earlier when repair is uneconomic."),
    ("procurement", "Purchases above {amt} euros require three competing quotes."),
    ("procurement", "New suppliers must pass a compliance check before the first order."),
    ("procurement", "Purchase orders are approved by the budget owner and then by finance."),
    ("remote", "Staff may work remotely up to {n} days per week with their manager's agreement."),
    ("remote", "Working from abroad is limited to 20 days per year for tax reasons."),
    ("remote", "Home office equipment up to {amt} euros is reimbursed once every three years."),
    ("gifts", "Gifts from suppliers worth more than {amt} euros must be declined or declared."),
    ("gifts", "Invitations to events by vendors must be approved by the compliance officer."),
    ("data", "Personal data of customers is kept for no longer than {n} years after the contract ends."),
    ("data", "Data subject access requests are answered within one month by the privacy team."),
    ("data", "Production data may not be used in test environments without anonymisation."),
    ("onboarding", "New hires receive their laptop and badge on the first day from the service desk."),
    ("onboarding", "Every new employee completes the security awareness course in the first {n} weeks."),
    ("onboarding", "A buddy from the team is assigned to each new hire for the first three months."),
    ("conduct", "Conflicts of interest must be declared to your manager in writing."),
    ("conduct", "Harassment can be reported anonymously through the ethics hotline."),
    ("conduct", "Side jobs need approval when they relate to our industry or customers."),
    ("facilities", "Meeting rooms are booked through the calendar and released after 15 minutes of no-show."),
    ("facilities", "Visitors sign in at reception and must be accompanied at all times."),
    ("facilities", "The office is open from 7:00 to 20:00 on weekdays; badge access is needed after hours."),
]
QUESTION_FORMS = {
    "Travel expenses must": ["How long do I have to hand in travel expenses?", "deadline for submitting trip receipts",
                             "When are travel claims due after a business trip?"],
    "Meals on business": ["What is the daily meal allowance when travelling?", "how much food can I expense per day on a trip",
                          "Meal reimbursement limit for business travel?"],
    "Taxis are reimbursed": ["Can I expense a taxi home?", "when are cab rides reimbursed",
                             "Is a late-night taxi covered by expenses?"],
    "Employees receive": ["How many vacation days do I get?", "annual paid holiday entitlement",
                          "How much paid time off is there for part-timers?"],
    "Sick leave longer": ["Do I need a doctor's note when I'm sick?", "sick for four days what do I send HR",
                          "When is a medical certificate required?"],
    "Parental leave requests": ["How early must I apply for parental leave?", "notice period for parental leave",
                                "When do I file for leave after having a baby?"],
    "Passwords must be": ["What are the password rules?", "minimum password length",
                          "Can I give my password to the IT helpdesk?"],
    "Lost or stolen": ["My laptop was stolen, who do I tell and how fast?", "report lost laptop deadline",
                       "What do I do if I lose my work computer?"],
    "Customer data may": ["Can I put customer files on a USB stick?", "copy client data to my own phone",
                          "Is it allowed to store customer data on personal devices?"],
    "New software is": ["How do I get new software installed?", "request an application install",
                        "Who approves software requests?"],
    "The VPN is": ["Do I need the VPN from home?", "accessing internal systems remotely",
                   "Is VPN mandatory outside the office?"],
    "Laptops are replaced": ["How often do we get a new laptop?", "laptop replacement cycle",
                             "When will my old laptop be replaced?"],
    "Purchases above": ["When do I need several quotes for a purchase?", "how many quotes for a big order",
                        "Competitive bids threshold for buying"],
    "New suppliers must": ["What is needed before ordering from a new vendor?", "onboard a new supplier check",
                           "Can I order from a supplier we've never used?"],
    "Purchase orders are": ["Who approves purchase orders?", "PO approval chain",
                            "Does finance sign purchase orders?"],
    "Staff may work": ["How many days a week can I work from home?", "remote work days allowed",
                       "Is working from home allowed every day?"],
    "Working from abroad": ["Can I work from another country for a month?", "work abroad limit per year",
                            "How many days can I work remotely from overseas?"],
    "Home office equipment": ["Will the company pay for my home office chair?", "home office budget",
                              "Reimbursement for a monitor at home?"],
    "Gifts from suppliers": ["Can I accept a present from a vendor?", "supplier gift value limit",
                             "What do I do with an expensive gift from a supplier?"],
    "Invitations to events": ["A vendor invited me to a concert, can I go?", "approval for vendor event tickets",
                              "Who approves supplier hospitality invitations?"],
    "Personal data of": ["How long do we keep customer personal data?", "data retention after contract end",
                         "When must customer records be deleted?"],
    "Data subject access": ["How fast must we answer a GDPR access request?", "deadline subject access request",
                            "A customer asked for a copy of their data, how long do we have?"],
    "Production data may": ["Can I use production data for testing?", "real customer data in test systems",
                            "Is anonymisation needed for test data?"],
    "New hires receive": ["When does a new starter get a laptop?", "first day equipment for new hires",
                          "Where do new employees pick up their badge?"],
    "Every new employee": ["Which training must new staff complete?", "security course deadline for new hires",
                           "Is security awareness training mandatory when joining?"],
    "A buddy from": ["Do new employees get a mentor?", "buddy programme for new hires",
                     "How long does the onboarding buddy support last?"],
    "Conflicts of interest": ["How do I declare a conflict of interest?", "conflict of interest reporting",
                              "Must I tell my manager about a family member at a supplier?"],
    "Harassment can be": ["How can I report harassment anonymously?", "ethics hotline harassment",
                          "Where do I report bullying without giving my name?"],
    "Side jobs need": ["Can I have a second job?", "approval for side employment",
                       "Is freelancing on the side allowed?"],
    "Meeting rooms are": ["How do I book a meeting room?", "meeting room no-show rule",
                          "When is an unused room booking released?"],
    "Visitors sign in": ["What is the visitor policy?", "guests at the office rules",
                         "Do visitors need an escort?"],
    "The office is": ["What are the office opening hours?", "office access after 8pm",
                      "Can I get into the building on a weekday evening?"],
}


def gen_retrieval(rng: random.Random) -> tuple[list[dict], list[dict]]:
    corpus = []
    for j, (topic, fact) in enumerate(POLICY_FACTS):
        text = fact.format(n=rng.choice([3, 4, 5, 10, 25, 30]), amt=rng.choice([50, 60, 75, 150, 500, 1000]))
        corpus.append({"id": f"pol-{j:03d}", "topic": topic, "text": text})
    # distractor passages: same topics, related words, not the answer to any query
    distractors = [
        ("expenses", "The finance team publishes the expense report calendar each January."),
        ("leave", "Public holidays differ per country and are listed on the HR intranet page."),
        ("security", "The security team runs phishing simulations every quarter."),
        ("it", "The IT service desk is staffed from 8:00 to 18:00 on weekdays."),
        ("procurement", "The procurement newsletter lists preferred suppliers by category."),
        ("remote", "Team days in the office are agreed within each department."),
        ("data", "The privacy team maintains the register of processing activities."),
        ("facilities", "Bicycle parking is available in the basement of the main building."),
    ]
    for k, (topic, text) in enumerate(distractors):
        corpus.append({"id": f"pol-{len(POLICY_FACTS) + k:03d}", "topic": topic, "text": text})
    items = []
    i = 0
    while len(items) < N_ITEMS:
        j = i % len(POLICY_FACTS)
        fact = POLICY_FACTS[j][1]
        key = next(k for k in QUESTION_FORMS if fact.startswith(k))
        q = QUESTION_FORMS[key][(i // len(POLICY_FACTS)) % 3]
        if i >= 3 * len(POLICY_FACTS):  # fourth pass and later: paraphrase by light edits
            q = _pick(rng, ["Policy question: ", "Quick one: ", "HR question - ", "I was wondering: "]) + q[0].lower() + q[1:]
        items.append({"id": f"qry-{i:04d}", "query": q, "reference": [f"pol-{j:03d}"], "template": f"fact-{j:03d}"})
        i += 1
    return items, corpus


# --------------------------------------------------------------------------- splits
SPLIT_PLAN = {
    # workload: (templates per stratum in test, in dev); the rest train. Classification and
    # routing are stratified by label, so every label is in every split.
    "ticket-classification": (3, 1),  # of 8 templates per category
    "intent-routing": (2, 1),  # of 6 templates per queue
    "invoice-extraction": (1, 1),  # of 4 layouts
    "incident-summarization": (2, 1),  # of 8 incidents (each in 3 report layouts)
    "meeting-structured": (1, 1),  # of 4 phrasings
    "policy-retrieval": (10, 3),  # of 32 policy facts (each asked in 3 phrasings + light edits)
}


def assign_splits(name: str, items: list[dict]) -> None:
    """Give every item a ``split`` (train/dev/test) by its ``template``: all items of one
    template (and its paraphrases) land in one split, so a model trained on the train split is
    scored on phrasings it never saw. Templates are drawn per stratum with their own seeded
    generator, so the items themselves are unchanged."""
    n_test, n_dev = SPLIT_PLAN[name]
    strata: dict[str, set] = collections.defaultdict(set)
    for it in items:
        label = it["reference"] if name in ("ticket-classification", "intent-routing") else ""
        strata[label].add(it["template"])
    rng = random.Random(f"{SEED}-{name}-splits")
    split_of = {}
    for label in sorted(strata):
        templates = sorted(strata[label])
        rng.shuffle(templates)
        for k, t in enumerate(templates):
            split_of[t] = "test" if k < n_test else "dev" if k < n_test + n_dev else "train"
    for it in items:
        it["split"] = split_of[it["template"]]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main() -> None:
    rng = random.Random(SEED)
    out = {
        "ticket-classification": gen_classification(rng),
        "intent-routing": gen_routing(rng),
        "invoice-extraction": gen_extraction(rng),
        "incident-summarization": gen_summarization(rng),
        "meeting-structured": gen_structured(rng),
    }
    retrieval, corpus = gen_retrieval(rng)
    out["policy-retrieval"] = retrieval
    for name, rows in out.items():
        assign_splits(name, rows)
        _write_jsonl(HERE / name / "items.jsonl", rows)
        labels = [r["reference"] for r in rows if isinstance(r.get("reference"), str) and name in
                  ("ticket-classification", "intent-routing")]
        counts = dict(sorted(collections.Counter(labels).items()))
        sizes = collections.Counter(r["split"] for r in rows)
        templates = {s: len({r["template"] for r in rows if r["split"] == s}) for s in sizes}
        print(f"{name}: {len(rows)} items {counts if counts else ''}")
        print("    splits: " + ", ".join(f"{s} {sizes[s]} items / {templates[s]} templates"
                                        for s in ("train", "dev", "test")))
    _write_jsonl(HERE / "policy-retrieval" / "corpus.jsonl", corpus)
    print(f"policy-retrieval corpus: {len(corpus)} passages")


if __name__ == "__main__":
    main()
