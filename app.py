print("MMGen Space: coming with the app issue")
