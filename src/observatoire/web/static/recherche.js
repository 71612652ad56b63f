// Suggestions as one types in a name field (progressive enhancement). An <input> with
// data-suggestions="acheteur|titulaire" becomes an ARIA combobox: after two characters it asks
// /api/v1/suggestions (our own server) and lists the names found; arrows move, Enter or a click
// chooses, Escape closes. data-choose="go" opens the chosen buyer's or supplier's page;
// "fill" puts its SIRET in the field (the explorer's filter). Without JavaScript the form works
// as it is: it submits the words, and the server searches them.
(function () {
  "use strict";
  var counter = 0;

  function setup(input) {
    var kind = input.getAttribute("data-suggestions");
    var mode = input.getAttribute("data-choose") || "go";
    var id = "suggestions-" + (++counter);
    var list = document.createElement("span"); // phrasing content: the field may sit in a <label>
    var status = document.createElement("span");
    var items = [];
    var active = -1;
    var timer = null;
    var asked = "";

    list.id = id;
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", kind === "titulaire" ? "Titulaires suggérés" : "Acheteurs suggérés");
    list.hidden = true;
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", id);
    input.setAttribute("autocomplete", "off");
    input.parentNode.insertBefore(list, input.nextSibling);
    input.parentNode.insertBefore(status, list.nextSibling);

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      options.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      active = index;
      if (index >= 0 && options[index]) {
        input.setAttribute("aria-activedescendant", options[index].id);
        options[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(index) {
      var item = items[index];
      if (!item) {
        return;
      }
      close();
      if (mode === "fill") {
        input.value = item.identifiant;
        status.textContent = (item.nom || "nom non diffusible") + " choisi (" + item.identifiant + ")";
      } else {
        window.location.assign(item.url);
      }
    }

    function show(found) {
      items = found;
      list.textContent = "";
      found.forEach(function (item, i) {
        var option = document.createElement("span");
        var name = document.createElement("span");
        var detail = document.createElement("span");
        option.id = id + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        name.className = "suggestion-name";
        name.textContent = item.nom || "nom non diffusible";
        detail.className = "suggestion-detail";
        detail.textContent = [item.identifiant, item.commune,
          item.marches + (item.marches > 1 ? " marchés" : " marché")].filter(Boolean).join(" · ");
        option.appendChild(name);
        option.appendChild(detail);
        option.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep the focus in the field
          choose(i);
        });
        list.appendChild(option);
      });
      list.hidden = found.length === 0;
      input.setAttribute("aria-expanded", found.length ? "true" : "false");
      status.textContent = found.length ? found.length + " suggestion(s)" : "Aucune suggestion";
      active = -1;
    }

    function ask() {
      var text = input.value.trim();
      if (text.length < 2) {
        asked = "";
        show([]);
        status.textContent = "";
        return;
      }
      if (text === asked) {
        return;
      }
      asked = text;
      var url = "/api/v1/suggestions?type=" + encodeURIComponent(kind) + "&q=" + encodeURIComponent(text);
      fetch(url, { headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
        .then(function (data) {
          if (asked === text) { // an answer to an older query is dropped
            show(data.suggestions || []);
          }
        })
        .catch(function () { show([]); });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, 150);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) {
        return;
      }
      if (event.key === "ArrowDown") {
        event.preventDefault();
        highlight(Math.min(active + 1, items.length - 1));
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        highlight(Math.max(active - 1, 0));
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault(); // choose the suggestion rather than submit the words
        choose(active);
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", close);
  }

  document.querySelectorAll("input[data-suggestions]").forEach(setup);
})();
