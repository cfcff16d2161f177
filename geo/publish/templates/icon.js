L.Icon.Default.imagePath = '';
L.Icon.Default.mergeOptions({iconUrl: '__I1__', iconRetinaUrl: '__I2__', shadowUrl: '__I3__'});
