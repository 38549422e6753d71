"""The scripted retail dialogues, employee-only stretches and distant-talker lines of `heard synth`.

Pure data, in the text format of ``heard.synth.scripts``: ``E:``/``C:`` for employee and
customer, ``!`` for an interruption, ``~`` for a backchannel inside the other party's turn.
Numbers are spelled out so that every voice reads them the same way.
"""

from __future__ import annotations

from heard.synth.scripts import Script, parse_script

_DIALOGUES = {
    "greeting_purchase": """
E: Hi there, welcome in. Did you find everything you were looking for today?
C: I did, thanks. Just these three things and a bottle of water.
E: Great. Do you have one of our store cards with you, or should I just ring these up?
C: No card, just ring them up please.
E: No problem. So that's the notebook, the pens, the charger and the water. That comes to thirty
    two fifty.
C~: okay
C: Here you go, I'll pay with card.
E: Perfect, go ahead and tap whenever you're ready.
C: Do I need to sign anything?
E: Nope, you're all set. Would you like a bag for those?
C: Yes please, a small one is fine.
E: Here you go. Have a great rest of your day.
C: Thanks, you too.
""",
    "price_check": """
C: Excuse me, this jacket didn't have a price tag on it. Do you know how much it is?
E: Let me check that for you. Can I see the label inside?
C: Sure, it's the blue one from the rack by the window, the one near the scarves and the hats.
E!: Oh, the winter line. Give me one second to scan it.
E: Okay, it comes up at eighty nine ninety nine, but the whole rack is thirty percent off this week.
C: So what would that be with the discount?
E: That brings it down to about sixty three dollars before tax.
C: That's not bad at all. Do you have it in a medium?
E: I think we do. Let me look it up. Yes, there are two mediums in the back.
C: Great, I'll take one of those then.
""",
    "return_complaint": """
C: Hi, I need to return this coffee maker. It stopped working after two days and I'm honestly
    pretty frustrated about it.
E: I'm sorry to hear that. Do you have the receipt with you?
C: I have it on my phone. I used it twice, and the second time it just leaked all over the
    counter and made a huge mess in my kitchen.
E!: Oh no, that's not good at all.
C: And it's the second one from this brand that's done that to me, so I really don't want
    another one of these.
E~: right
E: That's completely fair. I can refund it to your original card, or you can pick a different model.
C: Just the refund, please.
E: Okay. I'm processing it now. It should show up on your card in three to five business days.
C!: Three to five days? Can't you just give me cash?
E: I'm sorry, card purchases go back to the card. That's the store policy, I can't override it.
C: Fine. Can I at least get a printed receipt for the return?
E: Of course. Here it is, and again, I'm sorry about the trouble.
""",
    "card_declined": """
E: Okay, your total is forty seven eighty. You can insert or tap your card.
C: Sure, here we go.
E: Hmm, it looks like it came back declined. Do you want to try it one more time?
C: That's strange, I just used it this morning at the gas station down the road and it worked fine.
E~: mm-hmm
E: Sometimes the chip reader is picky. Let's try swiping it instead.
C: Okay, swiping now.
E: Sorry, it's still saying declined. Do you have another card you could use?
C: Let me check. I have a debit card somewhere in here, give me a second to find it.
E!: Take your time, there's no rush at all.
C: Here it is. Let's try this one.
E: There we go, that one went through. Sorry about the hassle.
C: No worries, I'll call my bank later.
""",
    "loyalty_signup": """
E: Before I finish this up, are you a member of our rewards program?
C: No, I'm not. What is it exactly?
E: It's free to join. You get five percent back on everything, a birthday coupon, and early
    access to our sales.
C~: uh-huh
C: Okay, that sounds good. What do you need from me?
E: Just your phone number and an email address, and I can set it up right here at the register.
C: Sure, the number is five five five, two one four, eight eight three zero.
E: Got it. And the email?
C: It's my first name, a dot, then my last name, at example dot com.
E: Perfect. You're all signed up, and today's purchase already counts toward your first reward.
C: Oh nice, thank you.
E: You're welcome. Your receipt will show your points balance at the bottom.
""",
    "directions": """
C: Hi, sorry, do you know where the nearest post office is?
E: Sure. Go out the main doors and turn left. Walk two blocks until you see the bank on the corner.
C~: okay
C: Left, then two blocks to the bank.
E: Right. Then cross the street at the light, and the post office is the brick building next to
    the pharmacy.
C!: Next to the pharmacy, got it.
E: They close at five today, so you've got about forty minutes.
C: Oh good. And is there parking over there, or should I just walk?
E: I'd walk. Parking is really hard to find around there in the afternoon.
C: Thanks so much, that's really helpful.
E: No problem, good luck.
""",
    "long_customer_story": """
E: Hi, how are you doing today?
C: Oh, you won't believe the week I've had. My sister is getting married on Saturday, and the
    caterer called yesterday to say they double booked.
E~: mm-hmm
C: So now I'm running around trying to find plates, napkins, cups and decorations for about
    eighty people, because my aunt volunteered to cook everything herself.
E~: mm-hmm
C: And the venue says we have to bring our own tablecloths too, which nobody told us until this
    morning. I've been to three stores already and nobody has enough of anything.
E~: right
C: So I'm hoping you have the white tablecloths, the big round ones, and maybe the paper
    lanterns I saw in your window display last week.
E: We should have both. The tablecloths are in aisle six, and we just got a new box of lanterns
    this morning.
C: Oh, thank goodness. Can you hold twelve lanterns for me while I grab the tablecloths?
E: Absolutely, I'll put them behind the counter with your name on them.
C: You're a lifesaver. Thank you so much.
""",
    "sales_pitch": """
C: I'm just looking at these headphones. Are they any good?
E: Oh, these are honestly some of the best we carry. They have active noise cancelling, thirty
    hours of battery life, and they fold up flat so they fit in any bag.
C~: mm-hmm
E: And the sound is really balanced, not too much bass like a lot of the cheaper ones. People
    who commute on the train love them, and we've had almost no returns.
C~: okay
E: Right now they're also bundled with a hard case and a two year protection plan, which
    normally costs about forty dollars on its own, so it's a really good deal this week.
C!: Sorry, how much are they without the bundle?
E: On their own they're one ninety nine, and the bundle is two twenty nine. Most people go for
    the bundle because of the protection plan.
C: I'll think about it. Thanks for the help.
E: Of course. If you want to try them on, just let me know.
""",
    "gift_card": """
C: Hi, can I get a gift card for my nephew? It's his birthday tomorrow.
E: Of course. How much would you like to put on it?
C: Fifty dollars, please.
E: Sure. Would you like it in a little envelope or a gift box? The box is two dollars extra.
C: The envelope is fine.
E: And do you want a gift receipt with it, just in case he wants to check the balance?
C: Yes, that would be great.
E: Okay, that's fifty dollars even. Cash or card?
C: Cash. Here you go.
E: Thank you. Here's your card, your change and the receipt. I hope he has a great birthday.
""",
    "special_order": """
C: Hi, I was looking for the large blue storage bins, but the shelf is empty.
E: Yes, sorry about that. We sold out over the weekend. The next delivery is on Thursday.
C: Is there any way to reserve some from that delivery? I need about six of them for my garage.
E: I can put in a special order for you. They'll hold them at the counter for a week after they
    arrive.
C~: okay
C: That would be perfect. Do I pay now or when I pick them up?
E: You can pay when you pick them up. I just need a name and a phone number for the order.
C: It's Maria, and my number is five five five, three two one, seven seven zero zero.
E: Great, you'll get a text as soon as they come in.
C: Thank you.
""",
    "exchange_size": """
C: Hi, I bought these shoes last week, but they're a little too tight. Can I exchange them for a
    bigger size?
E: Sure, no problem. Do you have the box and the receipt?
C: Yes, both are right here in the bag.
E: Great. What size are these, and what size would you like instead?
C: These are an eight and a half. I think a nine should fit a lot better, maybe even a nine and
    a half.
E!: Let me check if we have both in stock so you can try them.
E: Okay, I have a nine in the back, but the nine and a half is sold out in this color.
C: The nine is fine. Can I try it on first?
E: Of course. Here you go, the bench is right over there.
C: These fit perfectly. I'll take them.
E: Great, the exchange is done. Same price, so there's nothing to pay.
""",
    "coupon_dispute": """
E: Okay, that comes to twenty eight forty.
C: Wait, I had a coupon for twenty percent off. Did that go through?
E: Let me look. It looks like the coupon only applies to full price items, and these two were
    already on sale.
C: But it doesn't say that anywhere on the coupon. I read the whole thing this morning before I
    came in.
E!: It's in the fine print on the back, but I understand, it's easy to miss.
C: That's really frustrating. I only came in today because of that coupon.
E: I'm sorry. What I can do is apply it to the candle, since that one is full price.
C: Okay, I guess that helps a little.
E: That brings your total down to twenty five ten.
C: Alright, I'll pay with card.
""",
    "store_hours": """
C: Hi, what time are you open until tonight?
E: We close at nine tonight, and tomorrow we open at eight in the morning.
C: And are you open on Sunday as well?
E: Yes, Sundays are ten to six.
C: Great, thank you.
E: You're welcome, see you soon.
""",
    "quick_question": """
C: Hi, quick question. Do you sell phone chargers here?
E: We do. They're on the back wall next to the batteries, right past the greeting cards.
C: Great, and do you have the ones with the newer plug?
E: Yes, both kinds. The newer ones are on the top shelf.
C: Perfect, thanks.
""",
}

_SOLO = {
    "phone_supplier": """
E: Hi, this is Sam from the downtown store. I'm calling about our order from last week.
E: Yes, the order number is four four seven two.
E: Right. We were supposed to get twelve boxes, but only eight came in.
E: Okay. Can you send the other four with Thursday's delivery?
E: Great, thanks. Bye.
""",
    "phone_manager": """
E: Hey, it's me. Yeah, it's pretty quiet right now.
E: No, the new register still isn't printing receipts properly.
E: I already restarted it twice. I think the paper roll is the wrong size.
E: Okay, I'll check the storage room. Talk to you later.
""",
    "self_talk": """
E: Okay, where did I put the price gun.
E: Twelve, thirteen, fourteen. Fourteen boxes of the small ones.
E: And these go on the bottom shelf, I think.
E: Right, now the receipt paper.
""",
}

DISTANT_LINES = (
    "Did you see where they moved the cereal?",
    "I think it's in the next aisle over.",
    "Mom, can we get the chocolate ones?",
    "Not today, we already have snacks at home.",
    "Do you want the big bag or the small one?",
    "Let's just get both, they're on sale.",
    "Can you grab a cart from the front?",
    "I'll meet you by the checkout in five minutes.",
    "Clean up in aisle four, please.",
    "Is this the gluten free one?",
    "We still need milk and eggs.",
    "Look, they have the lamps we saw online.",
    "How much is that one?",
    "I don't remember if we need batteries.",
    "Hey, over here!",
    "That's way too expensive.",
    "Which one did you like better?",
    "I'll ask someone where the paint is.",
)

DIALOGUES: dict[str, Script] = {k: parse_script(k, v) for k, v in _DIALOGUES.items()}
SOLO: dict[str, Script] = {k: parse_script(k, v, solo=True) for k, v in _SOLO.items()}
