"""Use cases above the chat core: asking a question and streaming its reply into the conversation.

This layer sits between the UI and the domain packages; it is where history persistence will hook
in (appending a reply to the store as it streams), which is why it is not inside `chat`.
"""
