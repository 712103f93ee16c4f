"""Dutch places an adviser may name: the 35 arbeidsmarktregio's, the provinces, larger municipalities.

This is reference data about the Netherlands, not about our sources: which places the approved
sources cover comes from the registry (regions, municipalities, provinces) and from the passages.
"""

from __future__ import annotations

LABOUR_MARKET_REGIONS = [
    "Groningen", "Friesland", "Drenthe", "Regio Zwolle", "Twente", "Stedendriehoek en Noordwest Veluwe",
    "Achterhoek", "Rijk van Nijmegen", "Midden-Gelderland", "FoodValley", "Rivierenland", "Amersfoort",
    "Midden-Utrecht", "Gooi en Vechtstreek", "Flevoland", "Noord-Holland Noord", "Zaanstreek/Waterland",
    "Zuid-Kennemerland en IJmond", "Groot Amsterdam", "Holland Rijnland", "Zuid-Holland Centraal",
    "Haaglanden", "Midden-Holland", "Rijnmond", "Drechtsteden", "Gorinchem", "Zeeland", "West-Brabant",
    "Midden-Brabant", "Noordoost-Brabant", "Zuidoost-Brabant", "Helmond-De Peel", "Noord-Limburg",
    "Midden-Limburg", "Zuid-Limburg", "IJsselland", "Hart van Brabant", "Noord-Drenthe", "Oost-Groningen",
    "Noord-Nederland",
]

PROVINCES = [
    "Groningen", "Friesland", "Fryslân", "Drenthe", "Overijssel", "Flevoland", "Gelderland", "Utrecht",
    "Noord-Holland", "Zuid-Holland", "Zeeland", "Noord-Brabant", "Brabant", "Limburg",
]

MUNICIPALITIES = [
    "Amsterdam", "Rotterdam", "Den Haag", "'s-Gravenhage", "Utrecht", "Eindhoven", "Groningen", "Tilburg",
    "Almere", "Breda", "Nijmegen", "Apeldoorn", "Arnhem", "Haarlem", "Enschede", "Haarlemmermeer",
    "Amersfoort", "Zaanstad", "'s-Hertogenbosch", "Den Bosch", "Zwolle", "Leiden", "Zoetermeer",
    "Leeuwarden", "Maastricht", "Dordrecht", "Ede", "Alphen aan den Rijn", "Westland", "Alkmaar", "Emmen",
    "Delft", "Venlo", "Deventer", "Sittard-Geleen", "Helmond", "Oss", "Hilversum", "Heerlen", "Lelystad",
    "Hengelo", "Purmerend", "Roosendaal", "Schiedam", "Almelo", "Gouda", "Vlaardingen", "Assen", "Zeist",
    "Nieuwegein", "Veenendaal", "Capelle aan den IJssel", "Den Helder", "Hoorn", "Katwijk", "Middelburg",
    "Vlissingen", "Terneuzen", "Bergen op Zoom", "Roermond", "Weert", "Doetinchem", "Harderwijk",
    "Barneveld", "Wageningen", "Tiel", "Culemborg", "Houten", "IJsselstein", "Woerden", "Veendam",
    "Hoogezand", "Delfzijl", "Appingedam", "Stadskanaal", "Winschoten", "Meppel", "Hoogeveen",
    "Coevorden", "Kampen", "Heerenveen", "Sneek", "Drachten", "Harlingen", "Huizen", "Bussum",
    "Gooise Meren", "Baarn", "Bunschoten", "Leusden", "Nijkerk", "Soest", "Woudenberg", "Het Hogeland",
    "Westerkwartier", "Midden-Groningen", "Eemsdelta", "Oldambt", "Pekela", "Westerwolde", "Tynaarlo",
    "Noordenveld", "Aa en Hunze", "Oldenzaal", "Steenwijk", "Zutphen", "Lochem", "Ermelo", "Epe",
    "Hardenberg", "Goes", "Schagen", "Heerhugowaard", "Dijk en Waard", "Beverwijk", "Velsen", "Zandvoort",
    "Amstelveen", "Diemen", "Uithoorn", "Krimpen aan den IJssel", "Spijkenisse", "Nissewaard",
    "Barendrecht", "Ridderkerk", "Gorinchem", "Waalwijk", "Uden", "Veghel", "Boxtel", "Best", "Veldhoven",
    "Valkenswaard", "Geldrop", "Kerkrade", "Landgraaf", "Brunssum", "Venray", "Zaltbommel", "Leerdam",
]
