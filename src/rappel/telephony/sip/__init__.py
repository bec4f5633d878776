"""Rappel's SIP signalling layer: a user-agent client for a third-party call controller.

- `messages`: parsing and building messages (the only module that imports aiosipua);
- `transactions`: RFC 3261 section 17.1 client transactions, sans-I/O;
- `dialogs`: UAC dialogs (section 12), route sets, in-dialog requests;
- `auth`: answers to digest challenges;
- `transport`: asyncio UDP and TCP;
- `calls`: `OutgoingCall`, one call from INVITE to BYE, with session refresh;
- `signals`: what a call reports (`Provisional`, `Answered`, `Failed`, `Ended`);
- `useragent`: `UserAgent` and `SipConfig`, the API the driver is written against.
"""
