"""X-Cross studio: the frame every page runs in. Start it with `xcross studio` (or `streamlit run app/Home.py`).

It registers the pages with st.navigation, grouped in the order a proof of concept goes, sets the page
config, shows the current data and workspace in the sidebar, and runs the chosen page's script from views/.
A link to another page (st.page_link, st.switch_page) names that page's script as registered here, e.g.
"views/results.py". The explicit url_path keeps each page's address (/Data, /Results, …) stable. Page icons are
emoji: the browser shows the page's icon as its tab icon, and a Material icon there is fetched from Google's
servers, while an emoji is drawn on the machine.
"""

import streamlit as st
from plain import md
from state import current_dataset, workspace

PAGES = {
    "Start": [
        st.Page("views/home.py", title="Overview", icon="🏠", default=True),
    ],
    "Prepare": [
        st.Page("views/data.py", title="Data", icon="📋", url_path="Data"),
        st.Page("views/adapters.py", title="Adapters", icon="🧩", url_path="Adapters"),
    ],
    "Proof of concept": [
        st.Page("views/poc_run.py", title="PoC run", icon="▶️", url_path="PoC_run"),
        st.Page("views/results.py", title="Results", icon="📊", url_path="Results"),
        st.Page(
            "views/which_sources_help.py",
            title="Which sources help",
            icon="🔗",
            url_path="Which_sources_help",
        ),
    ],
    "Use and share": [
        st.Page("views/try_it.py", title="Try it", icon="🛒", url_path="Try_it"),
        st.Page("views/history.py", title="History & export", icon="🕘", url_path="History"),
    ],
}

page = st.navigation(PAGES)
st.set_page_config(page_title=f"{page.title} · X-Cross studio", page_icon="🔀", layout="wide")
with st.sidebar:
    st.caption(md("Data: **{}**", current_dataset().label))
    st.caption(md("Workspace: {}", workspace().root))
page.run()
